import os, sys, time
def t(label):
    t0 = float(os.environ.get("FT_T0", "0"))
    if t0: sys.stderr.write(f"{time.time()-t0:6.3f} [{os.getpid()}] {label}\n")
