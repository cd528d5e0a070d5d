// The console's stylesheet, served as /ui/static/console.css (the CSP allows no inline style).
export const CONSOLE_CSS = `
:root { --fg: #1d2330; --muted: #5d6778; --line: #d9dee7; --accent: #2357c6; --bad: #b3261e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: #f6f7f9; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; gap: 1rem; flex: 1; }
header .who { display: flex; gap: .6rem; align-items: center; color: var(--muted); }
main { padding: 1rem 1.2rem; max-width: 1200px; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
tr.error td:first-child { color: var(--bad); font-weight: 600; }
tr.warning td:first-child { color: var(--warn); font-weight: 600; }
pre { background: #fff; border: 1px solid var(--line); padding: .6rem; overflow: auto; }
.filters { display: flex; gap: .5rem; flex-wrap: wrap; margin-bottom: .6rem; }
.error { color: var(--bad); }
.sign-in { display: grid; gap: .5rem; max-width: 24rem; }
.hint, .count { color: var(--muted); }
.pager { display: flex; gap: 1rem; margin-top: .6rem; }
button { font: inherit; padding: .25rem .8rem; }
form.inline { display: inline; }
figure.chart { display: inline-block; margin: 0 2rem .6rem 0; padding: .6rem; background: #fff; border: 1px solid var(--line); }
figure.chart figcaption { color: var(--muted); margin-bottom: .3rem; }
`;
