import { z } from "@hono/zod-openapi";
import { CompositionView } from "./composition";

export const SORT_FIELDS = ["created", "completed", "name", "state"] as const;
export const MAX_PAGE_SIZE = 2000;

const Sort = z.object({ empty: z.boolean(), sorted: z.boolean(), unsorted: z.boolean() }).openapi("Sort");

const Pageable = z
  .object({
    offset: z.number().int(),
    pageNumber: z.number().int(),
    pageSize: z.number().int(),
    paged: z.boolean(),
    sort: Sort,
    unpaged: z.boolean(),
  })
  .openapi("Pageable");

export const PageCompositionView = z
  .object({
    content: z.array(CompositionView),
    empty: z.boolean(),
    first: z.boolean(),
    last: z.boolean(),
    number: z.number().int(),
    numberOfElements: z.number().int(),
    pageable: Pageable,
    size: z.number().int(),
    sort: Sort,
    totalElements: z.number().int(),
    totalPages: z.number().int(),
  })
  .openapi("PageCompositionView");

const int = (name: string, min: number, max: number) =>
  z.string().regex(/^\d+$/, `${name} must be a whole number`).transform(Number).pipe(z.number().int().min(min).max(max)).optional();

const bool = z
  .enum(["true", "false"])
  .transform((v) => v === "true")
  .optional();

const sortParam = z
  .string()
  .regex(
    new RegExp(`^(${SORT_FIELDS.join("|")})(,(asc|desc|ASC|DESC))?$`),
    `sort must be field[,asc|desc] with field one of ${SORT_FIELDS.join(", ")}`,
  );

/** Spring Data's paging parameters plus the flattened names the seed lists. */
export const PagingQuery = z.object({
  page: int("page", 0, 1_000_000),
  size: int("size", 1, MAX_PAGE_SIZE),
  sort: z.union([sortParam, z.array(sortParam)]).optional(),
  pageNumber: int("pageNumber", 0, 1_000_000),
  pageSize: int("pageSize", 1, MAX_PAGE_SIZE),
  offset: int("offset", 0, 1_000_000_000),
  paged: bool,
  unpaged: bool,
  "sort.sorted": bool,
  "sort.unsorted": bool,
  scope: z.enum(["mine", "visible"]).optional().openapi({
    description: "Beyond the seed: `mine` (default) = compositions you created; `visible` = every one your role may see",
  }),
});
export type PagingQuery = z.infer<typeof PagingQuery>;
