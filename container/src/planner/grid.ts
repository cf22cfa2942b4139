// Grid geometry: 1 → full frame, 2 → side by side, 3–4 → 2×2, 5–6 → 3×2, 7–9 → 3×3, 10–12 → 4×3,
// 13–16 → 4×4, and onwards with the same rule. Cells are filled row by row in tile order.

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export function gridDims(n: number): { cols: number; rows: number } {
  if (n <= 1) return { cols: 1, rows: 1 };
  const cols = Math.ceil(Math.sqrt(n));
  return { cols, rows: Math.ceil(n / cols) };
}

const even = (v: number) => Math.max(2, Math.floor(v / 2) * 2);

/**
 * Cell rectangles for n tiles in a width×height frame. Sizes are even (yuv420p needs it); the
 * few pixels left over by the division are split evenly around the grid so it stays centred.
 */
export function gridCells(n: number, width: number, height: number): Rect[] {
  const { cols, rows } = gridDims(n);
  const w = even(width / cols);
  const h = even(height / rows);
  // Half of the leftover, kept even so chroma planes stay aligned.
  const x0 = Math.max(0, Math.floor((width - cols * w) / 4) * 2);
  const y0 = Math.max(0, Math.floor((height - rows * h) / 4) * 2);
  const cells: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const col = i % cols;
    const row = Math.floor(i / cols);
    cells.push({ x: x0 + col * w, y: y0 + row * h, w, h });
  }
  return cells;
}
