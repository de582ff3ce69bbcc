"""Printago entity shapes as the API returns them (fields per Printago's OpenAPI spec)."""

from __future__ import annotations

from typing import Any, TypedDict


class PrinterEntity(TypedDict):
    """Describe a Printago printer."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    provider: str
    deviceId: str | None
    providerConfig: dict[str, Any] | None
    machineUserProfileId: str | None
    machineSystemProfileId: int | None
    processUserProfileId: str | None
    processSystemProfileId: int | None
    name: str
    nozzleDiameter: str
    metadata: dict[str, Any] | None
    proxyClientId: str | None
    commMethod: str | None
    enabled: bool
    tags: list[str]
    confirmedReady: bool
    isAvailable: bool
    isOnline: bool
    printingJobId: str | None
    lastPrintedAt: str | None
    integrationId: str | None
    integrationType: str | None
    continuousPrint: bool
    fabmaticRemainingJobs: int | None
    lifetimePrintHours: float
    lifetimeJobCount: int
    isInMaintenance: bool
    lastMaintenanceOfflineAt: str | None
    lastMaintenanceOnlineAt: str | None


class PrintJobEntity(TypedDict):
    """Describe a Printago print job."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    partBuildId: str
    quantityIndex: int
    quantityTotal: int
    thumbnailUri: str | None
    coloredThumbnailUri: str | None
    buildThumbnailUri: str | None
    filesToPrint: list[str]
    slicerInputHash: str | None
    isGcodeCached: bool
    slicedGcodeUri: str | None
    partId: str | None
    partName: str
    skuId: str | None
    skuName: str | None
    parameterOverrides: list[dict[str, Any]]
    orderId: str | None
    orderItemId: str | None
    linkedPartId: str | None
    label: str
    skuInstance: int | None
    queueOrder: float
    priority: int
    requiredPrinterTags: dict[str, str]
    overriddenProcessProfileId: str | None
    taskId: int
    profileUris: list[str] | None
    assignedPrinterId: str | None
    assignmentStartedAt: str | None
    assignmentCompletedAt: str | None
    printingStartedAt: str | None
    printingCompletedAt: str | None
    cancelledAt: str | None
    status: str
    errorMessage: str | None
    hidden: bool
    logsUri: str | None
    extensions: dict[str, Any] | None
    skipObjectsData: dict[str, Any] | None
    materialMapping: list[dict[str, Any]] | None
    materialAssignments: dict[str, Any] | None
    gcodeAnalysisSha256: str | None


class PrinterSlotEntity(TypedDict):
    """Describe a filament slot of a printer (AMS slot or external spool)."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    printerId: str
    materialId: str | None
    variantId: str | None
    instanceId: str | None
    materialType: str | None
    expectedData: dict[str, Any] | None
    expectedDataSetAt: str | None
    amsIndex: int
    slotIndex: int
    slot: int
    filamentUserProfileId: str | None
    filamentSystemProfileId: int | None


class MaterialEntity(TypedDict):
    """Describe a Printago material (brand and filament type)."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    name: str
    brand: str
    type: str
    identifier: str | None
    tags: list[str]
    filamentUserProfileId: str | None
    filamentSystemProfileId: int | None
    starred: bool
    pricePer1000g: float | None
    source: str | None
    externalId: str | None


class MaterialVariantEntity(TypedDict):
    """Describe a Printago material variant (a colour of a material)."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    name: str
    materialId: str
    color: str | None
    tags: list[str]
    filamentUserProfileId: str | None
    filamentSystemProfileId: int | None
    pricePer1000g: float | None
    pressureAdvance: float | None
    source: str | None
    externalId: str | None


class MaterialInstanceEntity(TypedDict):
    """Describe a Printago material instance (one spool)."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    variantId: str
    materialId: str
    materialType: str
    remainingMaterial: float
    source: str | None
    externalId: str | None


class PartEntity(TypedDict):
    """Describe a Printago part."""

    id: str
    storeId: str
    createdAt: str
    updatedAt: str
    name: str
    type: str
    description: str
    fileUris: list[str]
    fileHashes: list[str]
    thumbnailUri: str | None
    parameters: list[dict[str, Any]]
    printTags: dict[str, str]
    overriddenProcessProfileId: str | None
    folderId: str | None
    materials: list[dict[str, Any]] | None
    slicerOverride: dict[str, Any] | None
    metadata: dict[str, Any] | None
    slicingEstimate: dict[str, Any] | None
    use3MFProcessProfile: bool
    arrangeable: bool
    userTags: list[str]
    gcodePlateUris: dict[str, str] | None
    uploadedAt: str


class StoreEntity(TypedDict):
    """Describe a Printago store."""

    id: str
    createdAt: str
    updatedAt: str
    name: str
    timezone: str
    country: str | None
    logoLightUrl: str | None
    logoDarkUrl: str | None
    websiteUrl: str | None
    auditEnabled: bool


def field_names(schema: type) -> frozenset[str]:
    """Return the field names of an entity shape."""
    return frozenset(schema.__annotations__)


PRINTER_FIELDS = field_names(PrinterEntity)
PRINT_JOB_FIELDS = field_names(PrintJobEntity)
PRINTER_SLOT_FIELDS = field_names(PrinterSlotEntity)
MATERIAL_FIELDS = field_names(MaterialEntity)
MATERIAL_VARIANT_FIELDS = field_names(MaterialVariantEntity)
MATERIAL_INSTANCE_FIELDS = field_names(MaterialInstanceEntity)
PART_FIELDS = field_names(PartEntity)
STORE_FIELDS = field_names(StoreEntity)
