"""Importance matrices: collect them (`run`, `collector`), read and write them (`imatrix_file`),
and the calibration text they are collected on (`calibration`)."""
