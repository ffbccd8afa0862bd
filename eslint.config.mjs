import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "test-results/**", "bench/out/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { ecmaVersion: 2022, sourceType: "module" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "no-console": "error",
    },
  },
  {
    // src/ never imports the emulator (the CLI loads it dynamically); the emulator never imports src/
    files: ["src/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["**/emulator/**"], message: "src/ must not import emulator/ (see DESIGN.md)" }] }] },
  },
  {
    files: ["emulator/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["**/src/**"], message: "emulator/ must not import src/ (see DESIGN.md)" }] }] },
  },
  {
    files: ["test/**/*.ts", "*.mts", "*.mjs"],
    rules: { "no-console": "off" },
  },
);
