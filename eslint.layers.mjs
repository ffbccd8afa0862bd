// The layout's import direction, checked by `npm run lint` (eslint.config.mjs) and explained in
// src/README.md: each folder of src/ is one part and may import only the parts listed for it.
// triggers (functions) and the CLI -> app / engine -> azure, remediations, tickets -> common -> model.
export const LAYERS = {
  model: [],
  common: ["model"],
  azure: ["common", "model"],
  remediations: ["common", "model"],
  tickets: ["common", "model"],
  engine: ["azure", "remediations", "tickets", "common", "model"],
  report: ["engine", "remediations", "common", "model"],
  app: ["engine", "azure", "remediations", "tickets", "common", "model"],
  local: ["app", "engine", "azure", "common", "model"],
  functions: ["app", "common", "model"],
  cli: ["app", "engine", "report", "local", "azure", "remediations", "tickets", "common", "model"],
};

const EMULATOR = { group: ["**/emulator/**"], message: "src/ must not import emulator/ (the CLI loads it dynamically; see src/README.md)" };

/** One flat-config object per part: no-restricted-imports with every part it may not reach. */
export function layerRules() {
  const parts = Object.keys(LAYERS);
  return parts.map((part) => {
    const forbidden = parts.filter((p) => p !== part && !LAYERS[part].includes(p));
    const allowed = LAYERS[part].length ? LAYERS[part].join(", ") : "nothing else in src/";
    return {
      files: [`src/${part}/**/*.ts`],
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              EMULATOR,
              ...(forbidden.length
                ? [{ regex: `^(\\.\\./)+(${forbidden.join("|")})/`, message: `src/${part} may import only ${allowed} (import direction: see src/README.md)` }]
                : []),
            ],
          },
        ],
      },
    };
  });
}
