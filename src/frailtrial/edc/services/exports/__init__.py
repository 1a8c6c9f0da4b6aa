"""Export: the tidy trial dataset (csv), SPSS .sav and SAS .xpt files, SDTM-style domains.

:func:`.run.export` reads the store once (:mod:`.tidy`) and hands the tables to the writer
of each asked format (:mod:`.formats`, which names them without importing them). The
writers import only :mod:`.tidy` and the shared :mod:`.statfiles`, never each other: no
import cycle.
"""
