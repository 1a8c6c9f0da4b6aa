# Regenerates sf36_v2_rederived.json: SF-36 version 2 scales and norm-based PCS/MCS with the
# 1998 and 1990 US norms.
#
# No runnable public implementation of SF-36 v2 scoring could be installed here (the
# official scoring is commercial software; no PyPI/npm/Debian package exists), so this is a
# deliberately separate re-derivation from the published algorithm (Ware et al., SF-36v2
# User's Manual 2000; the 1998 US norms and 1990 factor-score coefficients), written as a column-wise R
# computation that shares no code with frailtrial: item recode tables, half-scale imputation
# with the person's mean, linear transformation to 0-100, z-scores on the US norms, and
# aggregation with the 1990 factor-score coefficients.
#
# Usage: Rscript tests/reference/sf36_v2_rederived.R
out <- file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))),
                 "sf36_v2_rederived.json")
form <- c("1", "2", paste0("3", letters[1:10]), paste0("4", letters[1:4]),
          paste0("5", letters[1:3]), "6", "7", "8", paste0("9", letters[1:9]), "10",
          paste0("11", letters[1:4]))
# v2 response ranges: role items and the vitality / mental-health items have 5 choices.
top <- setNames(c(5, 5, rep(3, 10), rep(5, 4), rep(5, 3), 5, 6, 5, rep(5, 9), 5, rep(5, 4)),
                form)
set.seed(2000)
n <- 300
X <- sapply(form, function(f) sample.int(top[[f]], n, replace = TRUE))
rate <- sample(c(0, 0.1, 0.3, 0.6), n, replace = TRUE)
X[matrix(runif(n * 36), n) < rate] <- NA

R <- matrix(NA_real_, n, 36, dimnames = list(NULL, form))
plain <- c(paste0("3", letters[1:10]), paste0("4", letters[1:4]), paste0("5", letters[1:3]),
           "9b", "9c", "9f", "9g", "9i", "10", "11a", "11c")
R[, plain] <- X[, plain]
for (f in c("9a", "9d", "9e", "9h", "6", "11b", "11d")) R[, f] <- 6 - X[, f]
R[, "1"] <- c(5, 4.4, 3.4, 2, 1)[X[, "1"]]
bp1 <- X[, "7"]; bp2 <- X[, "8"]
r7 <- c(6, 5.4, 4.2, 3.1, 2.2, 1)[bp1]
r8 <- ifelse(bp2 == 1 & bp1 == 1, 6, 6 - bp2)
only7 <- !is.na(bp1) & is.na(bp2)
only8 <- is.na(bp1) & !is.na(bp2)
r8[only7] <- r7[only7]
r8[only8] <- c(6, 4.75, 3.5, 2.25, 1)[bp2[only8]]
r7[only8] <- r8[only8]
R[, "7"] <- r7; R[, "8"] <- r8

scales <- list(
  PF = list(items = paste0("3", letters[1:10]), need = 5, lo = 10, hi = 30),
  RP = list(items = paste0("4", letters[1:4]), need = 2, lo = 4, hi = 20),
  BP = list(items = c("7", "8"), need = 1, lo = 2, hi = 12),
  GH = list(items = c("1", "11a", "11b", "11c", "11d"), need = 3, lo = 5, hi = 25),
  VT = list(items = c("9a", "9e", "9g", "9i"), need = 2, lo = 4, hi = 20),
  SF = list(items = c("6", "10"), need = 1, lo = 2, hi = 10),
  RE = list(items = paste0("5", letters[1:3]), need = 2, lo = 3, hi = 15),
  MH = list(items = c("9b", "9c", "9d", "9f", "9h"), need = 3, lo = 5, hi = 25)
)
S <- sapply(names(scales), function(s) {
  sc <- scales[[s]]
  m <- R[, sc$items, drop = FALSE]
  answered <- if (s == "BP") rowSums(!is.na(X[, c("7", "8")])) else rowSums(!is.na(m))
  person_mean <- rowMeans(m, na.rm = TRUE)
  filled <- ifelse(is.na(m), person_mean, m)
  raw <- rowSums(filled)
  ifelse(answered >= sc$need, (raw - sc$lo) / (sc$hi - sc$lo) * 100, NA)
})

norms <- list(
  us1998 = rbind(mean = c(83.29094, 82.50964, 71.32527, 70.84570, 58.31411, 84.30250,
                          87.39733, 74.98685),
                 sd = c(23.75883, 25.52028, 23.66224, 20.97821, 20.01923, 22.91921,
                        21.43778, 17.75604)),
  us1990 = rbind(mean = c(84.52404, 81.19907, 75.49196, 72.21316, 61.05453, 83.59753,
                          81.29467, 74.84212),
                 sd = c(22.89490, 33.79729, 23.55879, 20.16964, 20.86942, 22.37642,
                        33.02717, 18.01189))
)
pcs_w <- c(0.42402, 0.35119, 0.31754, 0.24954, 0.02877, -0.00753, -0.19206, -0.22069)
mcs_w <- c(-0.22999, -0.12329, -0.09731, -0.01571, 0.23534, 0.26876, 0.43407, 0.48581)
summ <- lapply(norms, function(nm) {
  Z <- sweep(sweep(S, 2, nm["mean", ]), 2, nm["sd", ], "/")
  cbind(PCS = 50 + 10 * Z %*% pcs_w, MCS = 50 + 10 * Z %*% mcs_w)
})
na_null <- function(v) if (is.na(v)) NULL else v
cases <- lapply(seq_len(n), function(i) list(
  answers = lapply(as.list(X[i, ]), na_null),
  expected = c(lapply(as.list(S[i, ]), na_null),
               list(us1998 = list(PCS = na_null(summ$us1998[i, 1]), MCS = na_null(summ$us1998[i, 2])),
                    us1990 = list(PCS = na_null(summ$us1990[i, 1]), MCS = na_null(summ$us1990[i, 2]))))
))
jsonlite::write_json(list(source = "independent re-derivation of SF-36v2 scoring (this script)",
                          cases = cases), out, auto_unbox = TRUE, digits = NA, null = "null")
cat("wrote", out, "\n")
