# Reference sample sizes for k arms against a shared control with Dunnett's critical value
# (tests/test_design_sample_size.py). Regenerate from the repository root:
#   Rscript tests/reference/design_dunnett_n.R
# Writes tests/reference/design_dunnett_n.json. Needs R >= 4.2 with mvtnorm and jsonlite.
# Per-comparison power of the t test at Dunnett's critical value (qmvt, equicorrelated
# multivariate t with corr n2 / (n1 + n2), df = N - K), smallest n1 reaching the power.
suppressPackageStartupMessages({
  library(mvtnorm)
  library(jsonlite)
})
set.seed(20261122)
out <- list(versions = list(R = R.version.string,
                            mvtnorm = as.character(packageVersion("mvtnorm"))))
dunnett_power <- function(n1, ratio, arms, d, alpha, alt) {
  k <- arms - 1
  n2 <- ratio * n1
  df <- n1 + k * n2 - arms
  corr <- matrix(n2 / (n1 + n2), k, k); diag(corr) <- 1
  tail <- if (alt == "two.sided") "both.tails" else "lower.tail"
  crit <- qmvt(1 - alpha, tail = tail, df = df, corr = corr,
               algorithm = GenzBretz(abseps = 1e-6, maxpts = 2e6))$quantile
  ncp <- d * sqrt(n1 * n2 / (n1 + n2))
  upper <- pt(crit, df, ncp, lower.tail = FALSE)
  if (alt == "two.sided") upper + pt(-crit, df, ncp) else upper
}
rows <- list()
# three arms (two comparisons): qmvt is quick in 2 dimensions (minutes from 3 on)
for (cfg in list(list(3, 1, 0.8, 0.8, "two.sided"), list(3, 1, 0.5, 0.9, "two.sided"),
                 list(3, 1, 1.06, 0.8, "greater"), list(3, 2, 0.8, 0.8, "two.sided"))) {
  arms <- cfg[[1]]; ratio <- cfg[[2]]; d <- cfg[[3]]; target <- cfg[[4]]; alt <- cfg[[5]]
  pw <- function(n) dunnett_power(n, ratio, arms, d, 0.05, alt)
  lo <- 2; hi <- 4  # power(lo) < target <= power(hi); integer bisection (power rises with n)
  while (pw(hi) < target) { lo <- hi; hi <- 2 * hi }
  while (hi - lo > 1) { mid <- (lo + hi) %/% 2; if (pw(mid) < target) lo <- mid else hi <- mid }
  n1 <- hi; p <- pw(n1)
  rows[[length(rows) + 1]] <- list(arms = arms, ratio = ratio, d = d, power = target,
    alternative = if (alt == "two.sided") "two-sided" else "greater", alpha = 0.05,
    n1 = n1, power_at_n1 = p,
    power_at_n1_minus_1 = dunnett_power(n1 - 1, ratio, arms, d, 0.05, alt))
}
out$dunnett_n <- rows
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/design_dunnett_n.json")
