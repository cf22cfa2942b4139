import { getTableColumns, is, sql, SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";

type RowValues<T extends SQLiteTable> = { [K in keyof T["$inferInsert"]]?: T["$inferInsert"][K] | SQL };

/**
 * A whole row of `table` as a SELECT list, in the order of its columns (what drizzle's
 * `insert().select(sql)` writes): SQL as given, other values encoded by their column, missing ones
 * their column's default or NULL.
 */
export function rowValues<T extends SQLiteTable>(table: T, row: RowValues<T>): SQL {
  const given = row as Record<string, unknown>;
  const values = Object.entries(getTableColumns(table)).map(([key, column]) => {
    const value = given[key] !== undefined ? given[key] : (column.default ?? null);
    return is(value, SQL) ? value : sql.param(value, column);
  });
  return sql.join(values, sql`, `);
}

/**
 * `INSERT INTO table SELECT <row> WHERE <condition>`: the row is written only if the condition holds
 * when the statement runs (inside a batch: after the statements before it).
 */
export function insertWhere<T extends SQLiteTable>(orm: DrizzleD1Database, table: T, row: RowValues<T>, condition: SQL) {
  return orm.insert(table).select(sql`SELECT ${rowValues(table, row)} WHERE ${condition}`);
}
