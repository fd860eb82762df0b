"""The page's stylesheet, inlined (system fonts: nothing is fetched to show the page)."""

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d2430; background: #f6f7f9; margin: 0; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 12px; border-bottom: 1px solid #d9dde3; padding-bottom: 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
header, section { background: #fff; border: 1px solid #d9dde3; border-radius: 8px;
                  padding: 16px 20px; margin: 0 auto 18px; max-width: 1100px; }
.period { color: #4a5565; margin: 0 0 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px 10px; background: #fbfcfd; }
.card .label { color: #4a5565; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.card .value { font-size: 20px; font-weight: 600; }
.card .sub { color: #6b7480; font-size: 12px; }
figure.chart { margin: 0 0 14px; overflow-x: auto; }
figcaption { color: #4a5565; font-size: 12px; }
.note { color: #4a5565; background: #f3f5f8; border-left: 3px solid #9aa5b4; padding: 8px 12px;
        margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0 12px; }
caption { text-align: left; color: #4a5565; padding-bottom: 4px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e6ea;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #f3f5f8; font-weight: 600; white-space: nowrap; }
td:first-child { font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: nowrap; }
footer { color: #6b7480; text-align: center; font-size: 12px; }
svg.plot { display: block; max-width: 100%; height: auto; font-size: 11px; }
svg.plot .chart-title { font-size: 13px; font-weight: 600; fill: #1d2430; }
svg.plot .tick, svg.plot .legend, svg.plot .lane { fill: #3b4452; }
svg.plot .axis-title { fill: #1d2430; font-size: 12px; }
svg.plot .no-data { fill: #6b7480; font-size: 13px; }
svg.plot .grid { stroke: #e6e9ed; stroke-width: 1; }
svg.plot .axis, svg.plot .tickmark { stroke: #5c6675; stroke-width: 1; }
svg.plot .threshold { stroke: #B2182B; stroke-width: 1.5; stroke-dasharray: 5 4; }
"""
