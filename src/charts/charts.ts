// PNG charts for Discord: a vega-lite spec → vega view (no DOM) → SVG → @resvg/resvg-js PNG, with a bundled
// font (Open Sans) so labels render on slim machines without system fonts. Fixed size.
import { createRequire } from "node:module";
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { UsageSummary } from "../classroom/usage.ts";

export const CHART_WIDTH = 800;
export const CHART_HEIGHT = 400;
const FONT_FAMILY = "Open Sans";

const require = createRequire(import.meta.url);
/** The TTF shipped in node_modules by @expo-google-fonts/open-sans. */
export const chartFontPath = require.resolve(
  "@expo-google-fonts/open-sans/400Regular/OpenSans_400Regular.ttf",
);

const BASE_CONFIG = {
  font: FONT_FAMILY,
  background: "white",
  view: { stroke: null },
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridColor: "#e5e7eb" },
  title: { fontSize: 16, anchor: "start" as const },
  legend: { labelFontSize: 12 },
};

async function specToSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "original" },
    font: { fontFiles: [chartFontPath], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}

/** Renders a vega-lite spec to an 800×400 PNG (autosize fit: the whole picture, not just the plot, is that size). */
export async function renderSpec(
  spec: Omit<TopLevelSpec, "width" | "height" | "autosize" | "config">,
): Promise<Buffer> {
  const full = {
    ...spec,
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    autosize: { type: "fit", contains: "padding" },
    padding: 12,
    config: BASE_CONFIG,
  } as TopLevelSpec;
  return svgToPng(await specToSvg(full));
}

/** Questions (bars) and estimated cost (line) per day, from a usage summary. */
export async function renderUsageChart(summary: UsageSummary): Promise<Buffer> {
  const values = summary.byDay.map((d) => ({ day: d.day.slice(5), questions: d.questions, cost: d.costUsd }));
  // Enough decimals that small classroom costs do not all print as $0.00.
  const maxCost = Math.max(0, ...values.map((v) => v.cost));
  const decimals = maxCost >= 1 ? 2 : maxCost >= 0.1 ? 3 : maxCost >= 0.01 ? 4 : 5;
  return renderSpec({
    title: `/ask usage, ${summary.since} to ${summary.until.slice(0, 10)} (UTC)`,
    data: { values },
    encoding: { x: { field: "day", type: "ordinal", title: null, axis: { labelAngle: 0 } } },
    layer: [
      {
        mark: { type: "bar", color: "#4f79a7" },
        encoding: {
          y: {
            field: "questions",
            type: "quantitative",
            title: "Questions",
            axis: { tickMinStep: 1, titleColor: "#4f79a7" },
          },
        },
      },
      {
        mark: { type: "line", color: "#e15759", point: true, strokeWidth: 2 },
        encoding: {
          y: {
            field: "cost",
            type: "quantitative",
            title: "Estimated cost (USD)",
            axis: { format: `$.${decimals}~f`, titleColor: "#e15759" },
          },
        },
      },
    ],
    resolve: { scale: { y: "independent" } },
  } as Omit<TopLevelSpec, "width" | "height" | "autosize" | "config">);
}

export interface LossPoint {
  step: number;
  /** Training loss at this step (null or missing: none reported). */
  loss: number | null;
  /** Validation loss, when the job had a validation file. */
  validLoss?: number | null | undefined;
}

/** The training (and validation, when present) loss curve for the job-finished notice. */
export async function renderLossChart(points: LossPoint[], title = "Training loss"): Promise<Buffer> {
  const values: { step: number; loss: number; series: string }[] = [];
  for (const p of [...points].sort((a, b) => a.step - b.step)) {
    if (!Number.isFinite(p.step)) continue;
    if (p.loss !== null && Number.isFinite(p.loss))
      values.push({ step: p.step, loss: p.loss, series: "training" });
    if (p.validLoss != null && Number.isFinite(p.validLoss)) {
      values.push({ step: p.step, loss: p.validLoss, series: "validation" });
    }
  }
  const twoSeries = values.some((v) => v.series === "validation");
  return renderSpec({
    title,
    data: { values },
    mark: { type: "line", strokeWidth: 2, point: values.length <= 50 },
    encoding: {
      x: { field: "step", type: "quantitative", title: "Step" },
      y: { field: "loss", type: "quantitative", title: "Loss", scale: { zero: false } },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: ["training", "validation"], range: ["#4f79a7", "#f28e2b"] },
        legend: twoSeries ? { orient: "top-right" } : null,
      },
    },
  } as Omit<TopLevelSpec, "width" | "height" | "autosize" | "config">);
}
