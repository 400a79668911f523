"""What every integration must do, whatever its input: one suite, one adapter per integration."""
