// Counts what reaches D1 through one binding: statements (reads and writes) and round trips
// (single statements and batches). The real binding does the work; the wrapper only counts, so
// the code under test runs unchanged against real D1.

export interface D1Tally {
  /** Statements executed, alone or inside a batch. */
  statements: number;
  reads: number;
  writes: number;
  /** Round trips to D1: one per statement run alone, one per batch. */
  roundTrips: number;
  batches: number;
}

export const noCost = (): D1Tally => ({ statements: 0, reads: 0, writes: 0, roundTrips: 0, batches: 0 });

/** SELECTs (and PRAGMA/EXPLAIN) read; INSERT, UPDATE, DELETE (also INSERT … SELECT) write. */
const isRead = (sql: string) => /^\s*(select|pragma|explain)\b/i.test(sql);

export interface CountingD1 {
  db: D1Database;
  /** The totals so far (a copy). */
  total(): D1Tally;
}

export function countingD1(real: D1Database): CountingD1 {
  const tally = noCost();
  const record = (sql: string) => {
    tally.statements++;
    if (isRead(sql)) tally.reads++;
    else tally.writes++;
  };
  // batch() needs the binding's own statements: each wrapper remembers the one it stands for.
  const unwrapped = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<object, string>();

  const wrap = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapper = new Proxy(stmt, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values), sql);
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop === "all" || prop === "run" || prop === "first" || prop === "raw") {
          return (...args: unknown[]) => {
            record(sql);
            tally.roundTrips++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return value.bind(target);
      },
    });
    unwrapped.set(wrapper, stmt);
    sqlOf.set(wrapper, sql);
    return wrapper;
  };

  const db = new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrap(target.prepare(sql), sql);
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          for (const s of statements) record(sqlOf.get(s) ?? "");
          tally.batches++;
          tally.roundTrips++;
          return target.batch(statements.map((s) => unwrapped.get(s) ?? s));
        };
      }
      if (prop === "exec") throw new Error("countingD1: exec() is not counted; the code under test should not use it");
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, total: () => ({ ...tally }) };
}

/** What happened between two totals. */
export function since(before: D1Tally, after: D1Tally): D1Tally {
  return {
    statements: after.statements - before.statements,
    reads: after.reads - before.reads,
    writes: after.writes - before.writes,
    roundTrips: after.roundTrips - before.roundTrips,
    batches: after.batches - before.batches,
  };
}
