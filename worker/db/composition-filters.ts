import { and, eq, inArray, type SQL } from "drizzle-orm";
import { compositions, type CompositionRow } from "./schema";

export interface CompositionFilters {
  state?: CompositionRow["state"][];
  conversationId?: string;
}

/** Narrows a listing to some states and/or one conversation (the console's filters). */
export function withFilters(where: SQL, f: CompositionFilters): SQL {
  const state = f.state?.length ? inArray(compositions.state, f.state) : undefined;
  const conversation = f.conversationId ? eq(compositions.conversationId, f.conversationId) : undefined;
  return and(where, state, conversation)!;
}
