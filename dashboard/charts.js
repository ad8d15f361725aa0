import { h } from './api.js';
// Metric curves on Chart.js (loaded as a classic script: window.Chart). One chart per metric,
// training and validation on the same axes, so a growing gap between them (overfitting) shows.
const COLORS = ['#2458c6', '#d9480f', '#18794e', '#7c3aed', '#b42318', '#0e7490', '#a16207', '#be185d'];

export const baseMetric = (key) => key.replace(/^val_/, '');
export const isValidation = (key) => key.startsWith('val_');

export class MetricCharts {
  /**
   * @param {HTMLElement} container where one chart per metric is added; xLabel names the x axis,
   * xType is Chart.js's x scale ('logarithmic' too), lines: false draws points only (a scatter),
   * series says what the lines are (for screen readers); wholeX: x ticks are whole numbers (epochs)
   */
  constructor(
    container,
    { xLabel = 'epoch', xType = 'linear', lines = true, series = 'training and validation', wholeX = true } = {},
  ) {
    this.container = container;
    this.xLabel = xLabel;
    this.xType = xType;
    this.lines = lines;
    this.seriesText = series;
    this.wholeX = wholeX;
    this.charts = new Map();
    this.colors = new Map();
  }

  chart(metric) {
    let entry = this.charts.get(metric);
    if (entry) return entry;
    const canvas = h('canvas', { role: 'img', 'aria-label': `${metric} per ${this.xLabel}, ${this.seriesText}` });
    const figure = h(
      'figure',
      { class: 'chart', 'data-metric': metric, 'data-points': '0', style: { margin: 0 } },
      h('figcaption', {}, h('strong', {}, metric)),
      h('div', { class: 'chart-box' }, canvas),
    );
    this.container.append(figure);
    const chart = new window.Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: {
            type: this.xType,
            title: { display: true, text: this.xLabel },
            ticks: this.wholeX ? { precision: 0 } : {},
          },
          y: { title: { display: true, text: metric } },
        },
        plugins: { legend: { position: 'bottom' } },
      },
    });
    entry = { chart, figure };
    this.charts.set(metric, entry);
    return entry;
  }

  series(metric, label, { dashed = false, colorKey = label, pointRadius = 3 } = {}) {
    const { chart } = this.chart(metric);
    let dataset = chart.data.datasets.find((d) => d.label === label);
    if (!dataset) {
      if (!this.colors.has(colorKey)) this.colors.set(colorKey, COLORS[this.colors.size % COLORS.length]);
      const color = this.colors.get(colorKey);
      dataset = {
        label,
        data: [],
        borderColor: color,
        backgroundColor: color,
        borderDash: dashed ? [6, 4] : [],
        pointRadius,
        showLine: this.lines,
        tension: 0.1,
      };
      chart.data.datasets.push(dataset);
    }
    return dataset;
  }

  /** Adds one point and redraws; the figure's data-points says how many points its longest series has, data-series how many series. */
  add(metric, label, x, y, options) {
    this.series(metric, label, options).data.push({ x, y });
    this.refresh(metric);
  }

  /** Replaces a series' points (the compare view redraws from each job's history). */
  set(metric, label, points, options) {
    this.series(metric, label, options).data = points;
    this.refresh(metric);
  }

  refresh(metric) {
    const { chart, figure } = this.charts.get(metric);
    chart.update('none');
    figure.dataset.points = String(Math.max(0, ...chart.data.datasets.map((d) => d.data.length)));
    figure.dataset.series = String(chart.data.datasets.length);
  }

  destroy() {
    for (const { chart } of this.charts.values()) chart.destroy();
    this.charts.clear();
  }
}

/** Adds a job's epoch metrics: `loss` and `val_loss` become the training and validation series of the loss chart. */
export function addEpochMetrics(charts, epoch, metrics, prefix = '', colorKey) {
  for (const [key, value] of trainingFirst(Object.entries(metrics))) {
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    const validation = isValidation(key);
    charts.add(baseMetric(key), `${prefix}${validation ? 'validation' : 'training'}`, epoch, value, {
      dashed: validation,
      colorKey: colorKey ?? (validation ? 'validation' : 'training'),
    });
  }
}

/** Training metrics before validation ones (tfjs logs val_* first): they take the first colour and column. */
export const trainingFirst = (entries) =>
  [...entries].sort(([a], [b]) => Number(isValidation(a)) - Number(isValidation(b)));
