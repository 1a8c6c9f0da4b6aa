# Conditional mean imputation with jackknife (Wolbers et al. 2022, as R rbmi's
# method_condmean(type = "jackknife")) on rbmi's antidepressant example, computed here
# independently of rbmi: imputation MMRM by nlme::gls (unstructured covariance via
# corSymm + varIdent, REML, tight tolerances), strategies MAR/JR/CR/CIR/LMCF with one
# shared covariance, ANCOVA per visit (CHANGE ~ THERAPY + BASVAL), jackknife pooling.
# ICE: first visit with a missing CHANGE per subject, except subject 3618 (rbmi's
# quickstart vignette). Here the data before the ICEs are all the observed data (dropout is
# monotone after each ICE), so one fit per jackknife sample serves every strategy.
# Writes rbmi_condmean.json next to this script.
# usage: Rscript tests/reference/rbmi_condmean.R   (from the repository root; ~ a few minutes)
library(nlme)
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
d <- read.csv(file.path(here, "antidepressant_data.csv"))
d$PATIENT <- factor(d$PATIENT, levels = unique(d$PATIENT))
d$VISIT <- factor(d$VISIT, levels = c(4, 5, 6, 7))
d$THERAPY <- factor(d$THERAPY, levels = c("PLACEBO", "DRUG"))
visits <- levels(d$VISIT)
ids <- levels(d$PATIENT)
# expand to every subject x visit, carrying BASVAL and THERAPY
base <- d[!duplicated(d$PATIENT), c("PATIENT", "BASVAL", "THERAPY")]
full <- expand.grid(VISIT = factor(visits, levels = visits), PATIENT = factor(ids, levels = ids))
full <- merge(full, base, by = "PATIENT")
full <- merge(full, d[, c("PATIENT", "VISIT", "CHANGE")], by = c("PATIENT", "VISIT"), all.x = TRUE)
full <- full[order(as.integer(full$PATIENT), as.integer(full$VISIT)), ]
Y <- matrix(full$CHANGE, ncol = 4, byrow = TRUE)
nT <- 4
ice <- apply(is.na(Y), 1, function(m) if (any(m)) which(m)[1] else nT + 1)
ice[ids == "3618"] <- nT + 1
grp <- factor(matrix(as.character(full$THERAPY), ncol = 4, byrow = TRUE)[, 1], levels = c("PLACEBO", "DRUG"))
X <- model.matrix(~ BASVAL * VISIT + THERAPY * VISIT, full)
ref <- full
ref$THERAPY <- factor("PLACEBO", levels = c("PLACEBO", "DRUG"))
Xr <- model.matrix(~ BASVAL * VISIT + THERAPY * VISIT, ref)
ctl <- glsControl(tolerance = 1e-12, msTol = 1e-12, maxIter = 1000, msMaxIter = 1000)

stopifnot(all(is.na(Y[cbind(rep(seq_along(ids), nT), rep(seq_len(nT), each = length(ids)))][
  rep(seq_len(nT), each = length(ids)) >= rep(ice, nT)])))  # nothing observed after an ICE
fit <- function(keep) {
  # fit data: observed values of kept subjects
  rows <- rep(keep, each = nT)
  use <- rows & !is.na(full$CHANGE)
  dd <- full[use, ]
  dd$PATIENT <- droplevels(dd$PATIENT)
  g <- gls(CHANGE ~ BASVAL * VISIT + THERAPY * VISIT, data = dd,
           correlation = corSymm(form = ~ as.integer(VISIT) | PATIENT),
           weights = varIdent(form = ~ 1 | VISIT), method = "REML", control = ctl)
  w <- coef(g$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)[visits]
  cm <- corMatrix(g$modelStruct$corStruct)
  cs <- cm[[which.max(sapply(cm, nrow))]]
  sds <- g$sigma * w
  list(beta = coef(g), sigma = diag(sds) %*% cs %*% diag(sds))
}

strategy_mean <- function(own, rf, k, strategy) {
  if (strategy == "MAR" || k > nT) return(own)
  before <- seq_len(nT) < k
  if (strategy == "JR") return(ifelse(before, own, rf))
  if (strategy == "CR") return(rf)
  if (k == 1) return(rf)  # CIR without a visit before the ICE
  last <- k - 1
  if (strategy == "CIR") return(ifelse(before, own, own[last] + rf - rf[last]))
  if (strategy == "LMCF") return(ifelse(before, own, own[last]))
}

estimates <- function(keep, strategy, p) {
  mu <- matrix(X %*% p$beta, ncol = nT, byrow = TRUE)
  mur <- matrix(Xr %*% p$beta, ncol = nT, byrow = TRUE)
  Z <- Y
  for (i in which(keep)) {
    m <- is.na(Y[i, ])
    if (!any(m)) next
    mean_i <- strategy_mean(mu[i, ], mur[i, ], ice[i], strategy)
    o <- !m
    Z[i, m] <- mean_i[m] + p$sigma[m, o, drop = FALSE] %*% solve(p$sigma[o, o], Y[i, o] - mean_i[o])
  }
  out <- c()
  for (v in seq_len(nT)) {
    dv <- data.frame(CHANGE = Z[keep, v], THERAPY = grp[keep], BASVAL = base$BASVAL[keep])
    l <- lm(CHANGE ~ THERAPY + BASVAL, dv)
    nd <- function(t) data.frame(THERAPY = factor(t, levels = c("PLACEBO", "DRUG")), BASVAL = dv$BASVAL)
    out <- c(out, coef(l)[["THERAPYDRUG"]], mean(predict(l, nd("PLACEBO"))), mean(predict(l, nd("DRUG"))))
  }
  out
}

n <- length(ids)
keeps <- lapply(0:n, function(j) { k <- rep(TRUE, n); if (j > 0) k[j] <- FALSE; k })
fits <- lapply(keeps, fit)
result <- list()
for (strategy in c("MAR", "JR", "CR", "CIR", "LMCF")) {
  all <- estimates(keeps[[1]], strategy, fits[[1]])
  loo <- t(sapply(2:(n + 1), function(j) estimates(keeps[[j]], strategy, fits[[j]])))
  se <- sqrt((n - 1) / n * colSums(sweep(loo, 2, colMeans(loo))^2))
  rows <- list()
  for (v in seq_len(nT)) {
    j <- 3 * (v - 1) + 1:3
    rows[[v]] <- list(visit = visits[v], estimate = all[j[1]], se = se[j[1]],
                      lsmean_placebo = all[j[2]], se_placebo = se[j[2]],
                      lsmean_drug = all[j[3]], se_drug = se[j[3]])
  }
  result[[strategy]] <- rows
  cat(strategy, all[10], se[10], "\n")
}
json <- function(x) {
  if (is.list(x) && !is.null(names(x))) {
    paste0("{", paste(sprintf("\"%s\": %s", names(x), sapply(x, json)), collapse = ", "), "}")
  } else if (is.list(x)) {
    paste0("[", paste(sapply(x, json), collapse = ", "), "]")
  } else if (is.character(x)) {
    sprintf("\"%s\"", x)
  } else {
    sprintf("%.12g", x)
  }
}
writeLines(json(result), file.path(here, "rbmi_condmean.json"))
