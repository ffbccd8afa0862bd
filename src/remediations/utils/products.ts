/**
 * The products of a service: service-level ones and, where workspaces were collected, each
 * workspace's own (a workspace product is a separate `service/workspaces/products` resource).
 */
import type { ArmResource } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";

export interface ProductRef {
  product: ArmResource;
  /** How a message names it: `product 'gold'` or `workspace 'team' product 'gold'`. */
  label: string;
  /** Names (lowercase) of the APIs it contains, when product APIs were collected. */
  apis?: string[];
}

export function productsOf(s: ServiceSnapshot): ProductRef[] {
  const withApis = s.collected.has("productApis");
  const out: ProductRef[] = s.products.map((p) => ({ product: p, label: `product '${p.name}'`, ...(withApis ? { apis: s.productApis[p.name.toLowerCase()] ?? [] } : {}) }));
  if (s.collected.has("workspaces")) {
    for (const [w, c] of Object.entries(s.workspaceContents)) {
      for (const p of c.products) out.push({ product: p, label: `workspace '${w}' product '${p.name}'`, ...(withApis ? { apis: c.productApis[p.name.toLowerCase()] ?? [] } : {}) });
    }
  }
  return out;
}
