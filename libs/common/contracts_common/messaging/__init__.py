from contracts_common.messaging.broker import (
    BROKER_ERRORS,
    Broker,
    BrokerUnavailable,
    Consumer,
    Delivery,
    PermanentFailure,
)
from contracts_common.messaging.topology import QUEUE_SUFFIXES, Topology

__all__ = [
    "BROKER_ERRORS",
    "QUEUE_SUFFIXES",
    "Broker",
    "BrokerUnavailable",
    "Consumer",
    "Delivery",
    "PermanentFailure",
    "Topology",
]
