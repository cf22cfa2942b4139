import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gridCells, gridDims } from "../../container/src/planner/grid.ts";

describe("grid", () => {
  it("uses the expected layouts", () => {
    const dims = (n: number) => {
      const d = gridDims(n);
      return `${d.cols}x${d.rows}`;
    };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 16].map(dims)).toEqual([
      "1x1",
      "2x1",
      "2x2",
      "2x2",
      "3x2",
      "3x2",
      "3x3",
      "3x3",
      "3x3",
      "4x3",
      "4x3",
      "4x4",
      "4x4",
    ]);
  });

  it("full frame, side by side, 2×2 at 640x360", () => {
    expect(gridCells(1, 640, 360)).toEqual([{ x: 0, y: 0, w: 640, h: 360 }]);
    expect(gridCells(2, 640, 360)).toEqual([
      { x: 0, y: 0, w: 320, h: 360 },
      { x: 320, y: 0, w: 320, h: 360 },
    ]);
    expect(gridCells(3, 640, 360)).toEqual([
      { x: 0, y: 0, w: 320, h: 180 },
      { x: 320, y: 0, w: 320, h: 180 },
      { x: 0, y: 180, w: 320, h: 180 },
    ]);
  });

  it("centres the grid when the frame does not divide evenly, keeping sizes even", () => {
    // 640 / 3 = 213.3 → 212-wide cells, 4 px left over → 2 px each side.
    const cells = gridCells(5, 640, 360);
    expect(cells[0]).toEqual({ x: 2, y: 0, w: 212, h: 180 });
    expect(cells[4]).toEqual({ x: 214, y: 180, w: 212, h: 180 });
  });

  it("cells are even-sized, inside the frame, disjoint, in row-major order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 80, max: 960 }), fc.integer({ min: 60, max: 540 }), (n, hw, hh) => {
        const [w, h] = [hw * 2, hh * 2];
        const cells = gridCells(n, w, h);
        expect(cells).toHaveLength(n);
        for (const [i, c] of cells.entries()) {
          expect((c.w % 2) + (c.h % 2) + (c.x % 2) + (c.y % 2)).toBe(0);
          expect(c.x >= 0 && c.y >= 0 && c.x + c.w <= w && c.y + c.h <= h).toBe(true);
          for (const d of cells.slice(i + 1)) {
            const overlap = c.x < d.x + d.w && d.x < c.x + c.w && c.y < d.y + d.h && d.y < c.y + c.h;
            expect(overlap).toBe(false);
            expect(d.y > c.y || (d.y === c.y && d.x > c.x)).toBe(true);
          }
        }
      }),
    );
  });
});
