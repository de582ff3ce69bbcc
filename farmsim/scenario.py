"""The farms farmsim starts with: printers, filament, profiles, parts and queued jobs."""

from __future__ import annotations

from .models import FileProfile
from .world import World

MODEL_CYCLE = ("X1C", "P1S", "A1", "P1S", "X1C", "A1MINI")

COLORS = (
    ("Black", "#161616"),
    ("White", "#FFFFFF"),
    ("Red", "#C12E1F"),
    ("Blue", "#0A2989"),
    ("Orange", "#FF6A13"),
    ("Grey", "#8E9089"),
)

PROFILES = (
    ("Generic PLA", "PLA", 220.0, 55.0, 1.24, 20.0),
    ("Generic PETG", "PETG", 250.0, 70.0, 1.27, 25.0),
    ("Generic ABS", "ABS", 260.0, 90.0, 1.04, 22.0),
    ("Generic TPU", "TPU", 230.0, 35.0, 1.21, 35.0),
)

PARTS = (
    ("3DBenchy", "benchy.3mf", FileProfile(print_seconds=3000, grams=15, layers=240)),
    ("Calibration cube", "cube.stl", FileProfile(print_seconds=900, grams=8, layers=100)),
    ("Phone stand", "phone-stand.3mf", FileProfile(print_seconds=5400, grams=45, layers=300)),
)


def populate(world: World, *, printers: int, demo: bool = False) -> None:
    """Fill an empty world with a mixed farm of `printers` printers."""
    for name, material, nozzle, bed, density, cost in PROFILES:
        world.add_profile(
            name=name,
            material=material,
            nozzle_temp=nozzle,
            bed_temp=bed,
            density=density,
            cost_per_kg=cost,
        )
    counts: dict[str, int] = {}
    for index in range(printers):
        model = MODEL_CYCLE[index % len(MODEL_CYCLE)]
        counts[model] = counts.get(model, 0) + 1
        prototyping = index % 3 == 2  # noqa: PLR2004
        printer = world.add_printer(
            model=model,
            name=f"{model}-{counts[model]:02d}",
            group="prototyping" if prototyping else "production",
            tags=["prototype" if prototyping else "production", model.lower()],
        )
        for slot, tray in enumerate(printer.trays):
            material = "PETG" if slot == 3 else "PLA"  # noqa: PLR2004
            color_name, color_hex = COLORS[(index + slot) % len(COLORS)]
            spool = world.add_spool(
                material=material,
                color_name=color_name,
                color_hex=color_hex,
                remaining_grams=900.0 - 40 * ((index + slot) % 5),
            )
            world.load_spool(printer.id, tray.tray_id, spool.id)
    for color_name, color_hex in COLORS[:3]:
        world.add_spool(
            material="PLA",
            color_name=color_name,
            color_hex=color_hex,
            remaining_grams=1000.0,
            location="Shelf A",
        )
    world.add_spool(
        material="TPU",
        color_name="Black",
        color_hex="#161616",
        remaining_grams=120.0,
        low_threshold_grams=200.0,
        location="Shelf B",
    )
    for name, uri, profile in PARTS:
        world.add_part(name=name, file_uri=f"parts/{uri}", profile=profile)
    if demo:
        _queue_demo_jobs(world)


def _queue_demo_jobs(world: World) -> None:
    """Queue a few jobs from both services so the demo farm is busy."""
    base = "https://files.printfarm.invalid/models"
    for name, seconds, grams in (
        ("bracket", 2400, 18),
        ("cable-clip", 1200, 6),
        ("enclosure-lid", 5400, 60),
        ("hinge", 1800, 12),
    ):
        world.submit_job(
            source="autoprintfarm",
            file_url=f"{base}/{name}.gcode.3mf",
            profile=FileProfile(print_seconds=seconds, grams=grams, layers=int(seconds / 10)),
        )
    for part in list(world.parts.values())[:2]:
        world.submit_job(
            source="printago",
            file_url=part.file_uris[0],
            name=part.name,
            profile=part.profile,
            part_id=part.id,
            label=part.name,
        )
