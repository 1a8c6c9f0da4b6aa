# Peer of benchmarks/bench_mmrm.py: the same MMRM (unstructured covariance, REML) on
# fev_data fitted by nlme::gls, timed inside R; prints "<min seconds> <-2 log L>".
# usage: Rscript benchmarks/bench_mmrm_nlme.R tests/reference/fev_data.csv REPEATS
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
d <- d[!is.na(d$FEV1), ]
fit <- function() {
  gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = d,
      correlation = corSymm(form = ~ as.integer(AVISIT) | USUBJID),
      weights = varIdent(form = ~ 1 | AVISIT), method = "REML")
}
f <- fit()
times <- sapply(seq_len(as.integer(args[2])), function(i) system.time(fit())[["elapsed"]])
cat(sprintf("%.6f %.6f\n", min(times), -2 * as.numeric(logLik(f))))
