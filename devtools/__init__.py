"""Developer tools of printfarm: the demo, its dashboard and its screenshots.

`devtools.harness` starts farmsim and a real Home Assistant as subprocesses, onboards Home
Assistant and adds printfarm through Home Assistant's own config-flow API; `devtools.demo` is
`scripts/develop`, `devtools.screenshots` is `scripts/screenshots`.
"""
