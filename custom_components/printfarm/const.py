"""Constants for the printfarm integration."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

DOMAIN: Final = "printfarm"
LOGGER = logging.getLogger(__package__)

CONF_SERVICE: Final = "service"
CONF_STORE_ID: Final = "store_id"
CONF_REALTIME_URL: Final = "realtime_url"
CONF_BUDGET_SHARE: Final = "budget_share"
CONF_STALE_TIMEOUT: Final = "stale_timeout"
CONF_PRINTER_ID: Final = "printer_id"
CONF_SERIAL: Final = "serial"
CONF_ACCESS_CODE: Final = "access_code"
CONF_CA_CERT: Final = "ca_cert"
# The farm's webhook subscription (AutoPrintFarm): Home Assistant's webhook, its secret,
# the subscription at the farm, and (an option) the events to receive.
CONF_WEBHOOK_ID: Final = "webhook_id"
CONF_WEBHOOK_SECRET: Final = "webhook_secret"  # noqa: S105 - the key, not a secret
CONF_WEBHOOK_SUBSCRIPTION: Final = "webhook_subscription"
CONF_WEBHOOK_EVENTS: Final = "webhook_events"

SERVICE_AUTOPRINTFARM: Final = "autoprintfarm"
SERVICE_PRINTAGO: Final = "printago"
SERVICES: Final = (SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO)
DEFAULT_URLS: Final = {
    SERVICE_AUTOPRINTFARM: "https://api.autoprintfarm.com/v1",
    SERVICE_PRINTAGO: "https://api.printago.io",
}
DEFAULT_REALTIME_URL: Final = "wss://realtime.printago.io/mqtt"
SERVICE_NAMES: Final = {SERVICE_AUTOPRINTFARM: "AutoPrintFarm", SERVICE_PRINTAGO: "Printago"}

# A Bambu Lab printer's LAN connection, as a subentry of an AutoPrintFarm entry.
SUBENTRY_PRINTER: Final = "printer"
DEFAULT_MQTT_PORT: Final = 8883

# Percent of the farm API's request budget the integration may use.
DEFAULT_BUDGET_SHARE: Final = 50
MIN_BUDGET_SHARE: Final = 10
MAX_BUDGET_SHARE: Final = 100
# Printago keeps no reorder thresholds: spools at or below this many grams count as low stock.
CONF_LOW_STOCK_GRAMS: Final = "low_stock_grams"
DEFAULT_LOW_STOCK_GRAMS: Final = 150
MAX_LOW_STOCK_GRAMS: Final = 5000
# Seconds without a report after which a printer counts as unavailable.
DEFAULT_STALE_TIMEOUT: Final = 60
MIN_STALE_TIMEOUT: Final = 10
MAX_STALE_TIMEOUT: Final = 3600

MIN_REFRESH: Final = timedelta(seconds=30)
MAX_REFRESH: Final = timedelta(minutes=30)
# Requests one refresh is assumed to take before the first one was measured.
REQUESTS_PER_REFRESH: Final = {SERVICE_AUTOPRINTFARM: 4, SERVICE_PRINTAGO: 8}

# While the farm's webhooks arrive, the REST refresh is only a safety net this far apart;
# without a delivery this long while a printer is busy, they count as stopped.
WEBHOOK_REFRESH: Final = timedelta(minutes=15)
WEBHOOK_SILENCE: Final = timedelta(minutes=15)

# The estimated finish moves only when the estimate changes by more than this.
FINISH_TIME_TOLERANCE: Final = timedelta(minutes=2)

SPEED_LEVELS: Final = {1: "silent", 2: "standard", 3: "sport", 4: "ludicrous"}
CHAMBER_LIGHT: Final = "chamber_light"

EVENT_TYPES: Final = (
    "print_started",
    "print_paused",
    "print_resumed",
    "print_finished",
    "print_failed",
    "print_cancelled",
)

# The farm's own events (its webhooks, Printago's realtime feed), on the farm device
FARM_EVENT_TYPES: Final = (
    "job_queued",
    "job_started",
    "job_paused",
    "job_resumed",
    "job_completed",
    "job_failed",
    "job_cancelled",
    "printer_online",
    "printer_offline",
    "printer_error",
    "material_low_stock",
)

ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_FILE_URL: Final = "file_url"
ATTR_PART_ID: Final = "part_id"
ATTR_PRINTER: Final = "printer"
ATTR_GROUP: Final = "group"
ATTR_TAGS: Final = "tags"
ATTR_QUANTITY: Final = "quantity"
ATTR_PRIORITY: Final = "priority"
ATTR_NAME: Final = "name"
ATTR_MATERIAL: Final = "material"
ATTR_COLOR: Final = "color"
ATTR_IDEMPOTENCY_KEY: Final = "idempotency_key"
ATTR_JOB_ID: Final = "job_id"
ATTR_DEVICE_ID: Final = "device_id"
