"""Every policy of the pack, in one list for the pack itself and for the offline runner."""

import egress
import hardening
import tagging

ALL_POLICIES = [*tagging.POLICIES, *egress.POLICIES, *hardening.POLICIES]
