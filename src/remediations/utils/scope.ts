/** The scope a lock or role assignment applies to: its id up to `/providers/Microsoft.Authorization/`. */
export function authorizationScope(id: string): string {
  const m = /^(.*?)\/providers\/Microsoft\.Authorization\//i.exec(id);
  return m?.[1] ?? "";
}
