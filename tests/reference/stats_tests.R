# Regenerates tests/reference/stats_tests.json, the R results tests/test_stats_tests.py
# compares the stats test families (frailtrial.stats.parametric, nonparametric, selection,
# contingency, effect_sizes) against. Run from the repository root:
#   Rscript tests/reference/stats_tests.R
# (R 4.2 base stats + jsonlite + effectsize (Debian r-cran-effectsize); the Hedges g interval
# is also computed here by inverting the noncentral t distribution with uniroot.)
suppressMessages({
  library(jsonlite)
  library(effectsize)
})
set.seed(42)

samples <- list(
  small_a = round(rnorm(12, 10, 2), 4),
  small_b = round(rnorm(9, 12, 3), 4),
  mid_a = round(rexp(15, 0.2), 4),
  mid_b = round(rexp(15, 0.12), 4),
  tied_a = round(rnorm(20, 5, 2)),
  tied_b = round(rnorm(18, 6, 2)),
  big_a = round(rnorm(60, 0, 1), 5),
  big_b = round(rnorm(55, 0.4, 1.3), 5),
  pre = round(rnorm(14, 50, 10), 3),
  pre_tied = round(rnorm(25, 20, 4)),
  skewed = round(rlnorm(30, 0, 1), 4),
  uniform = round(runif(40), 5)
)
samples$post <- round(samples$pre + rnorm(14, 4, 6), 3)
samples$post_tied <- samples$pre_tied + round(rnorm(25, 1, 2))  # ties and zero differences
samples$pre_big <- round(rnorm(70, 30, 5), 4)
samples$post_big <- round(samples$pre_big + rnorm(70, 0.5, 3), 4)

tt <- function(x, y, ...) {
  r <- t.test(x, y, ...)
  list(statistic = unname(r$statistic), df = unname(r$parameter), p = r$p.value,
       ci = as.numeric(r$conf.int), estimate = unname(if (length(r$estimate) == 2)
         r$estimate[1] - r$estimate[2] else r$estimate))
}
wt <- function(x, y, ...) {
  r <- suppressWarnings(wilcox.test(x, y, conf.int = TRUE, ...))
  list(statistic = unname(r$statistic), p = r$p.value, ci = as.numeric(r$conf.int),
       estimate = unname(r$estimate), method = r$method)
}
pairs <- list(c("small_a", "small_b"), c("mid_a", "mid_b"), c("tied_a", "tied_b"),
              c("big_a", "big_b"))
two_sample <- lapply(pairs, function(p) {
  x <- samples[[p[1]]]; y <- samples[[p[2]]]
  list(a = p[1], b = p[2],
       student = tt(x, y, var.equal = TRUE), welch = tt(x, y, var.equal = FALSE),
       wilcox = wt(x, y), wilcox_approx = wt(x, y, exact = FALSE),
       wilcox_nocorrect = wt(x, y, exact = FALSE, correct = FALSE))
})
paired_cases <- list(c("pre", "post"), c("pre_tied", "post_tied"), c("pre_big", "post_big"))
paired <- lapply(paired_cases, function(p) {
  x <- samples[[p[1]]]; y <- samples[[p[2]]]
  list(before = p[1], after = p[2], t = tt(y, x, paired = TRUE),
       wilcox = wt(y, x, paired = TRUE), wilcox_approx = wt(y, x, paired = TRUE, exact = FALSE))
})
shapiro <- lapply(names(samples), function(n) {
  r <- shapiro.test(samples[[n]])
  list(sample = n, statistic = unname(r$statistic), p = r$p.value)
})

tables <- list(
  t2x2 = matrix(c(12, 5, 7, 14), 2),
  t2x2_small = matrix(c(3, 1, 1, 5), 2),
  t2x2_zero = matrix(c(0, 4, 6, 5), 2),
  t2x3 = matrix(c(8, 2, 3, 9, 5, 4), 2),
  t3x3 = matrix(c(3, 1, 2, 1, 5, 2, 0, 2, 6), 3),
  t2x5 = matrix(c(8, 2, 3, 9, 5, 4, 2, 7, 6, 3), 2),
  t3x4 = matrix(c(4, 2, 1, 0, 3, 5, 2, 2, 1, 3, 0, 4), 3)
)
contingency <- lapply(names(tables), function(n) {
  m <- tables[[n]]
  chi <- suppressWarnings(chisq.test(m, correct = TRUE))
  chi0 <- suppressWarnings(chisq.test(m, correct = FALSE))
  f <- fisher.test(m)
  res <- list(name = n, table = lapply(seq_len(nrow(m)), function(i) m[i, ]),
              chisq_correct = list(statistic = unname(chi$statistic), df = unname(chi$parameter),
                                   p = chi$p.value),
              chisq = list(statistic = unname(chi0$statistic), df = unname(chi0$parameter),
                           p = chi0$p.value),
              fisher = list(p = f$p.value))
  if (all(dim(m) == 2)) {
    res$fisher$odds_ratio <- unname(f$estimate)
    res$fisher$ci <- as.numeric(f$conf.int)
  }
  res
})

pv <- list(c(0.01, 0.04, 0.03, 0.005, 0.2), c(0.001, 0.5, 0.04, NA, 0.0125, 0.9),
           c(0.3, 0.3, 0.3))
p_adjust <- lapply(pv, function(p) list(p = p, bonferroni = p.adjust(p, "bonferroni"),
                                         holm = p.adjust(p, "holm")))

hedges <- function(x, y, level = 0.95) {
  nx <- length(x); ny <- length(y); df <- nx + ny - 2
  sp <- sqrt(((nx - 1) * var(x) + (ny - 1) * var(y)) / df)
  d <- (mean(x) - mean(y)) / sp
  j <- exp(lgamma(df / 2) - lgamma((df - 1) / 2)) / sqrt(df / 2)
  s <- sqrt(1 / nx + 1 / ny); tobs <- d / s; a <- 1 - level
  f <- function(ncp, prob) pt(tobs, df, ncp) - prob
  lo <- uniroot(f, c(tobs - 20, tobs + 20), prob = 1 - a / 2, tol = 1e-12)$root
  hi <- uniroot(f, c(tobs - 20, tobs + 20), prob = a / 2, tol = 1e-12)$root
  list(g = j * d, ci = c(lo, hi) * s * j, d = d, j = j)
}
effect <- lapply(pairs, function(p) {
  x <- samples[[p[1]]]; y <- samples[[p[2]]]
  es <- hedges_g(x, y, ci = 0.95)
  list(a = p[1], b = p[2], hedges = hedges(x, y),
       effectsize = list(g = es$Hedges_g, ci = c(es$CI_low, es$CI_high)),
       smd = (mean(x) - mean(y)) / sqrt((var(x) + var(y)) / 2))
})

rd_cases <- list(c(9, 15, 4, 15), c(0, 15, 3, 15), c(14, 15, 15, 15), c(30, 120, 18, 118))
risk <- lapply(rd_cases, function(v) {
  xa <- v[1]; na <- v[2]; xb <- v[3]; nb <- v[4]
  pa <- xa / na; pb <- xb / nb; z <- qnorm(0.975)
  wa <- prop.test(xa, na, correct = FALSE)$conf.int
  wb <- prop.test(xb, nb, correct = FALSE)$conf.int
  d <- pa - pb
  list(counts = v, rd = d,
       wald = d + c(-1, 1) * z * sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb),
       newcombe = c(d - sqrt((pa - wa[1])^2 + (wb[2] - pb)^2),
                    d + sqrt((wa[2] - pa)^2 + (pb - wb[1])^2)),
       smd = if (pa * (1 - pa) + pb * (1 - pb) > 0)
         (pa - pb) / sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2) else 0)
})

# categorical SMD (Yang & Dalton 2012, tableone's formula with MASS::ginv)
smd_cat <- function(a, b) {
  pa <- (a / sum(a))[-1]; pb <- (b / sum(b))[-1]
  s <- (diag(pa, length(pa)) - outer(pa, pa) + diag(pb, length(pb)) - outer(pb, pb)) / 2
  d <- pa - pb
  sqrt(drop(t(d) %*% MASS::ginv(s) %*% d))
}
cat_cases <- list(list(a = c(5, 7, 3), b = c(8, 4, 3)), list(a = c(10, 5), b = c(6, 9)),
                  list(a = c(2, 0, 6, 7), b = c(4, 3, 4, 4)), list(a = c(3, 3, 3), b = c(3, 3, 3)))
categorical <- lapply(cat_cases, function(cc) c(cc, list(smd = smd_cat(cc$a, cc$b))))

out <- list(samples = samples, categorical = categorical, two_sample = two_sample, paired = paired, shapiro = shapiro,
            contingency = contingency, p_adjust = p_adjust, effect = effect, risk = risk)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/stats_tests.json")
