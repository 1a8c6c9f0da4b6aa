# Regenerates mmrm_level_order.json for tests/test_mmrm_levels.py with R's nlme::gls and emmeans.
#   cd tests/reference && Rscript mmrm_level_order.R
# Input: fev_data.csv (from the R package mmrm, copied unchanged), relabelled so that string
# sorting gets both factors wrong: visits VIS1..VIS4 -> "Week 2", "Week 4", "Week 8",
# "Week 12" (as strings "Week 12" sorts first) and arms PBO/TRT -> "placebo"/"high_dose"
# ("high_dose" sorts first). R is given the factor levels in time order and placebo first,
# as `frailtrial stats mmrm` must fit them.
# Output: mmrm_level_order.json, one fit per order-dependent covariance structure:
# logLik, coefficients and SEs, the visit covariance matrix, and the emmeans difference
# high_dose - placebo at each visit.
suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(jsonlite)
})

visit_labels <- c(VIS1 = "Week 2", VIS2 = "Week 4", VIS3 = "Week 8", VIS4 = "Week 12")
arm_labels <- c(PBO = "placebo", TRT = "high_dose")
fev <- read.csv("fev_data.csv")
fev$AVISIT <- factor(visit_labels[fev$AVISIT], levels = unname(visit_labels))
fev$ARM <- factor(arm_labels[fev$ARMCD], levels = unname(arm_labels))
formula <- FEV1 ~ RACE + SEX + ARM * AVISIT
data <- fev[complete.cases(fev[, all.vars(formula)]), ]
ctrl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)
grp <- ~ VISITN | USUBJID

fit_one <- function(structure) {
  corr <- switch(structure,
    ar1 = corAR1(form = grp), ar1h = corAR1(form = grp),
    # an AR(T-1) process spans every positive-definite Toeplitz correlation of T visits
    toep = corARMA(form = grp, p = 3), toeph = corARMA(form = grp, p = 3)
  )
  weights <- if (structure %in% c("ar1h", "toeph")) varIdent(form = ~ 1 | AVISIT) else NULL
  fit <- gls(formula, data = data, correlation = corr, weights = weights,
             method = "REML", control = ctrl, na.action = na.omit)
  complete_id <- names(which(table(data$USUBJID) == nlevels(data$AVISIT)))[1]
  vc <- getVarCov(fit, individual = complete_id)
  tab <- summary(fit)$tTable
  grid <- qdrg(formula = formula(fit), data = data, coef = coef(fit), vcov = vcov(fit), df = Inf)
  em <- emmeans(grid, specs = ~ ARM | AVISIT)
  diff <- summary(contrast(em, method = "trt.vs.ctrl", ref = 1))
  list(
    covariance = structure, method = "reml",
    loglik = as.numeric(logLik(fit)), neg2loglik = -2 * as.numeric(logLik(fit)),
    terms = rownames(tab), estimate = unname(tab[, "Value"]), se = unname(tab[, "Std.Error"]),
    sigma = matrix(as.numeric(vc), nrow(vc)),
    contrasts = lapply(seq_len(nrow(diff)), function(i) {
      list(contrast = as.character(diff$contrast[i]), visit = as.character(diff$AVISIT[i]),
           estimate = diff$estimate[i], se = diff$SE[i])
    })
  )
}

out <- list(
  data = "fev_data.csv", formula = deparse(formula), subject = "USUBJID", visit = "AVISIT",
  arm = "ARM", arm_from = "ARMCD", visit_labels = as.list(visit_labels),
  arm_labels = as.list(arm_labels), visits = levels(data$AVISIT), arms = levels(data$ARM),
  fits = lapply(c("ar1", "ar1h", "toep", "toeph"), fit_one)
)
write_json(out, "mmrm_level_order.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
