def label() -> str:
    return "src layout"
