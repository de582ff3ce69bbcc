"""farmsim: a local simulation of AutoPrintFarm, Printago and Bambu Lab printers."""

from .context import SimConfig
from .server import FarmSim

__all__ = ["FarmSim", "SimConfig"]
