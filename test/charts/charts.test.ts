import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CHART_HEIGHT, CHART_WIDTH, renderLossChart, renderUsageChart } from "../../src/charts/charts.ts";
import { summarise } from "../../src/classroom/usage.ts";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { UsageRepository } from "../../src/db/usage.ts";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk, which must come first. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, "PNG signature");
  assert.equal(png.subarray(12, 16).toString("ascii"), "IHDR");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

const DAY = 86_400_000;
const first = Date.parse("2026-11-19T00:00:00Z");
const rows = Array.from({ length: 20 }, (_, i) => ({
  guildId: "g",
  channelId: "c",
  userId: `u${i % 4}`,
  model: "gpt-4o-mini-2024-07-18",
  provider: "openai",
  promptTokens: 40,
  completionTokens: 120,
  latencyMs: 300,
  costUsd: 0.0001 * i,
  cacheHit: i % 5 === 0,
  error: i === 7 ? "timeout" : null,
  createdAt: new Date(first + (i % 7) * DAY + 3_600_000).toISOString(),
}));

/** The week's summary as /usage computes it: rows through the real repository's SQL. */
async function weekSummary(inserted: typeof rows, nowMs: number) {
  const usage = new UsageRepository(sqliteStore(openDb(":memory:")));
  for (const r of inserted) await usage.insert(r);
  return summarise(
    "g",
    7,
    first,
    nowMs,
    await usage.aggregate("g", new Date(first).toISOString(), new Date(nowMs + 1).toISOString()),
  );
}

describe("charts", () => {
  it("renders the usage chart as an 800×400 PNG", async () => {
    const png = await renderUsageChart(await weekSummary(rows, first + 6 * DAY + 7_200_000));
    assert.deepEqual(pngSize(png), { width: CHART_WIDTH, height: CHART_HEIGHT });
    assert.ok(png.length > 5_000, `a chart with text and marks, not a blank image (${png.length} bytes)`);
  });

  it("renders an empty week too", async () => {
    const png = await renderUsageChart(await weekSummary([], first + 6 * DAY));
    assert.deepEqual(pngSize(png), { width: 800, height: 400 });
  });

  it("renders the training loss curve as an 800×400 PNG", async () => {
    const points = Array.from({ length: 60 }, (_, i) => ({
      step: i + 1,
      loss: 2 * Math.exp(-i / 20) + 0.05,
    }));
    const png = await renderLossChart(points);
    assert.deepEqual(pngSize(png), { width: 800, height: 400 });
    const blank = await renderLossChart([]);
    assert.ok(png.length > blank.length, "the curve adds pixels");
    const both = await renderLossChart(points.map((p) => ({ ...p, validLoss: p.loss + 0.2 })));
    assert.deepEqual(pngSize(both), { width: 800, height: 400 });
    assert.ok(both.length > png.length, "the validation curve adds pixels");
  });
});
