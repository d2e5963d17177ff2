"""Rate spikes: the normal rate of each kind of trouble, learned online, and departures."""

from detector.detect.rates.detector import ERROR_RATE, KEY_EXPIRY, RateDetector
from detector.detect.rates.key import Key, Series

__all__ = ["ERROR_RATE", "KEY_EXPIRY", "Key", "RateDetector", "Series"]
