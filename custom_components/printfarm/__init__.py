"""The printfarm integration: run a 3D print farm from Home Assistant."""

DOMAIN = "printfarm"
