# Regenerates tests/reference/incidence.json, the R results tests/test_stats_incidence.py
# compares frailtrial.stats.incidence (and the Newcombe risk difference of stats.effect_sizes)
# against. Run from the repository root:
#   Rscript tests/reference/incidence.R
# (R base stats + jsonlite.) binom.test gives the Clopper-Pearson interval, fisher.test the
# two-sided exact p, prop.trend.test the Cochran-Armitage chi-square; the trend z is also
# computed by hand from its textbook formula, so that its sign is checked too. The Newcombe
# hybrid-score interval is built from prop.test's Wilson intervals (no continuity
# correction); the published values of Newcombe (1998) Table II are in the test itself.
suppressMessages(library(jsonlite))

binom <- list(c(0, 10), c(1, 10), c(2, 10), c(10, 10), c(5, 7), c(3, 30), c(0, 1),
              c(9, 10), c(17, 46))
binom_out <- lapply(binom, function(c) {
  r <- binom.test(c[1], c[2])
  r90 <- binom.test(c[1], c[2], conf.level = 0.90)
  list(events = c[1], n = c[2], ci = as.numeric(r$conf.int),
       ci90 = as.numeric(r90$conf.int))
})

# events_a, n_a, events_b, n_b (group b is the control)
pairs <- list(c(2, 10, 0, 10), c(0, 10, 0, 10), c(5, 12, 1, 11), c(10, 10, 0, 10),
              c(3, 10, 3, 10), c(7, 15, 2, 14), c(10, 10, 10, 10), c(1, 9, 4, 11),
              c(1, 10, 0, 10))
fisher_out <- lapply(pairs, function(c) {
  tab <- matrix(c(c[1], c[2] - c[1], c[3], c[4] - c[3]), 2, byrow = TRUE)
  wa <- suppressWarnings(prop.test(c[1], c[2], correct = FALSE))$conf.int
  wb <- suppressWarnings(prop.test(c[3], c[4], correct = FALSE))$conf.int
  pa <- c[1] / c[2]
  pb <- c[3] / c[4]
  d <- pa - pb
  list(counts = c, p = fisher.test(tab)$p.value, rd = d,
       newcombe = c(d - sqrt((pa - wa[1])^2 + (wb[2] - pb)^2),
                    d + sqrt((wa[2] - pa)^2 + (pb - wb[1])^2)))
})

trend <- list(
  list(x = c(0, 1, 3), n = c(10, 10, 10), s = c(0, 1, 2)),
  list(x = c(3, 1, 0), n = c(10, 10, 10), s = c(0, 1, 2)),
  list(x = c(15, 10, 12), n = c(30, 31, 30), s = c(0, 1, 2)),
  list(x = c(83, 90, 129, 70), n = c(86, 93, 136, 82), s = c(1, 2, 3, 4)),  # ?prop.trend.test
  list(x = c(1, 2, 6), n = c(9, 11, 10), s = c(0, 1, 3)),
  list(x = c(0, 4), n = c(10, 10), s = c(0, 1)),
  list(x = c(0, 2, 1), n = c(10, 10, 10), s = c(0, 1, 2))  # tests/test_analysis_cratus.py
)
trend_out <- lapply(trend, function(t) {
  r <- prop.trend.test(t$x, t$n, t$s)
  p <- sum(t$x) / sum(t$n)
  sbar <- sum(t$n * t$s) / sum(t$n)
  z <- sum(t$x * (t$s - sbar)) / sqrt(p * (1 - p) * sum(t$n * (t$s - sbar)^2))
  list(events = t$x, n = t$n, scores = t$s, chi_square = unname(r$statistic),
       p = r$p.value, z = z)
})

out <- list(r_version = R.version.string, binom = binom_out, fisher = fisher_out,
            trend = trend_out)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/incidence.json")
