"""Recipe families, one module each; every module is imported when the registry is first used."""
