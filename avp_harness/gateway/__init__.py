"""The one model-call layer: clients, limits, retries, classification, usage and dollars."""

from avp_harness.gateway.gateway import CallOutcome, CallPrevented, Gateway, GatewayEvents

__all__ = ["CallOutcome", "CallPrevented", "Gateway", "GatewayEvents"]
