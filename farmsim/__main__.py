"""Run farmsim: `python -m farmsim --printers N --time-scale S --connection-file PATH`."""

from .cli import main

main()
