{
  "targets": [
    {
      "target_name": "packet_tx",
      "sources": ["packet_tx.c", "script_sys.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
