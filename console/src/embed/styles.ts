/** The viewer's styles, adopted by its shadow root: no style attribute, no inline <style> (strict host CSPs allow it). */
export const VIEWER_CSS = `
:host { display: block; font: 14px/1.45 system-ui, sans-serif; color: #1b1f24; }
* { box-sizing: border-box; }
h2 { font-size: 1.15rem; margin: 0 0 .25rem; }
.meta { color: #4a5560; margin: 0 0 .75rem; }
form { display: flex; flex-wrap: wrap; gap: .5rem .75rem; align-items: flex-end; margin-bottom: .75rem; }
label { display: flex; flex-direction: column; font-size: .85rem; gap: .15rem; }
input, select, button { font: inherit; padding: .3rem .5rem; border: 1px solid #8a949e; border-radius: 4px; background: #fff; color: inherit; }
button { cursor: pointer; background: #f3f5f7; }
button.primary { background: #0b5cad; border-color: #0b5cad; color: #fff; }
button:focus-visible, input:focus-visible, select:focus-visible { outline: 2px solid #0b5cad; outline-offset: 2px; }
.toolbar { display: flex; gap: .5rem; margin-bottom: .5rem; flex-wrap: wrap; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid #d5dade; vertical-align: top; }
td button { padding: .1rem .35rem; }
.ok { color: #17663a; font-weight: 600; }
.bad { color: #a3121f; font-weight: 600; }
.error { color: #a3121f; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: .5rem; border-radius: 4px; }
section.details { border: 1px solid #d5dade; border-radius: 4px; padding: .5rem .75rem; margin-top: .75rem; }
`
