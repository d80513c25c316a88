"""The bundled plugins, each registered through the crm_sync.plugins entry-point group."""
