"""The WhatsApp plugin: customer messages on the customer's timeline."""
