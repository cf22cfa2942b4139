export const ROLES = ["AGENT", "SUPERVISOR", "SERVICE"] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, as proven by a verified token. */
export interface Principal {
  userId: string;
  organizationId: string;
  roles: Role[];
}

export function hasAnyRole(p: Principal, allowed: readonly Role[]): boolean {
  return p.roles.some((r) => allowed.includes(r));
}
