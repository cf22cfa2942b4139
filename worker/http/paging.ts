import type { SortField } from "../db/compositions";
import { MAX_PAGE_SIZE, type PagingQuery } from "../schemas/page";

export const DEFAULT_PAGE_SIZE = 20;

export interface Paging {
  paged: boolean;
  page: number;
  size: number;
  offset: number;
  limit: number;
  sort: { field: SortField; direction: "asc" | "desc" }[];
  explicitSort: boolean;
}

/** Spring Data's `page`/`size`/`sort` with the seed's flattened Pageable names as aliases. */
export function resolvePaging(q: PagingQuery): Paging {
  const size = q.size ?? q.pageSize ?? DEFAULT_PAGE_SIZE;
  const paged = !(q.unpaged === true || q.paged === false);
  const page = q.page ?? q.pageNumber ?? (q.offset !== undefined ? Math.floor(q.offset / size) : 0);
  const offset = q.page === undefined && q.pageNumber === undefined && q.offset !== undefined ? q.offset : page * size;
  const sortValues = q.sort === undefined ? [] : Array.isArray(q.sort) ? q.sort : [q.sort];
  const unsorted = q["sort.unsorted"] === true || q["sort.sorted"] === false;
  const sort = unsorted
    ? []
    : sortValues.map((s) => {
        const [field, dir] = s.split(",");
        // Spring Data's default direction is ASC: `sort=name` sorts by name ascending.
        return { field: field as SortField, direction: (dir?.toLowerCase() === "desc" ? "desc" : "asc") as "asc" | "desc" };
      });
  const explicitSort = sort.length > 0;
  if (!explicitSort && !unsorted) sort.push({ field: "created", direction: "desc" });
  return paged
    ? { paged, page, size, offset, limit: size, sort, explicitSort: !unsorted }
    : { paged, page: 0, size: MAX_PAGE_SIZE, offset: 0, limit: MAX_PAGE_SIZE, sort, explicitSort: !unsorted };
}

/** The exact `Page«CompositionView»` shape Spring Data serializes. */
export function pageResponse<T>(content: T[], total: number, p: Paging) {
  const sorted = p.explicitSort;
  const sortInfo = { empty: !sorted, sorted, unsorted: !sorted };
  const size = p.paged ? p.size : content.length;
  const totalPages = p.paged ? Math.ceil(total / p.size) : 1;
  return {
    content,
    empty: content.length === 0,
    first: p.paged ? p.offset === 0 : true,
    last: p.paged ? p.offset + content.length >= total : true,
    number: p.page,
    numberOfElements: content.length,
    pageable: {
      offset: p.offset,
      pageNumber: p.page,
      pageSize: size,
      paged: p.paged,
      sort: sortInfo,
      unpaged: !p.paged,
    },
    size,
    sort: sortInfo,
    totalElements: total,
    totalPages,
  };
}
