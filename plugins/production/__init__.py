"""The production plugin: work-order status and the delivery promises it sets."""
