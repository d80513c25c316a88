"""The WhatsApp plugin: every customer conversation on the timeline, over the WhatsApp Cloud API."""
