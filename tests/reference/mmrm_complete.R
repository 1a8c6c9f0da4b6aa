# Regenerates mmrm_complete.json, the R references of tests/test_mmrm_complete.py
# (type III tests, emmeans contrasts, sandwich variants, residuals, likelihood-ratio tests).
#   cd tests/reference && Rscript mmrm_complete.R
# Inputs: fev_data.csv (R package mmrm's data set), sim_three_arm.csv.
# R 4.2: nlme, lme4, lmerTest, pbkrtest, emmeans, clubSandwich, jsonlite.
# A compound-symmetry MMRM with a positive between-subject variance is the random-intercept
# model, so lmerTest / pbkrtest (type III with Satterthwaite / Kenward-Roger df) and emmeans
# on lmer are references for our 'cs' fits.
suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(clubSandwich)
  library(jsonlite)
})
emm_options(msg.interaction = FALSE, msg.nesting = FALSE)
out <- list()

fev <- read.csv("fev_data.csv", stringsAsFactors = TRUE)
fev$ARMCD <- factor(fev$ARMCD, levels = c("PBO", "TRT"))
fev <- fev[!is.na(fev$FEV1), ]

# ---- type III tests (contr.sum coding: each term's columns) ---------------------------
old <- options(contrasts = c("contr.sum", "contr.poly"))
ri <- lmer(FEV1 ~ ARMCD * AVISIT + RACE + FEV1_BL + (1 | USUBJID), data = fev, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-12)))
tab <- function(a) list(effect = rownames(a), num_df = a$NumDF, den_df = a$DenDF, F = a[["F value"]], p = a[["Pr(>F)"]])
out$type3 <- list(
  formula = "FEV1 ~ ARMCD*AVISIT + RACE + FEV1_BL", covariance = "cs",
  neg2loglik = -2 * as.numeric(logLik(ri)),
  satterthwaite = tab(anova(ri, type = 3, ddf = "Satterthwaite")),
  kenward_roger = tab(anova(ri, type = 3, ddf = "Kenward-Roger"))
)
options(old)

# ---- emmeans contrasts on the three-arm trial ------------------------------------------
three <- read.csv("sim_three_arm.csv", stringsAsFactors = TRUE)
three$arm <- factor(three$arm, levels = c("placebo", "dose_low", "dose_high"))
three$visit <- factor(three$visit, levels = c("m0", "m3", "m6", "m12"))
m3 <- lmer(y ~ arm * visit + (1 | pid), data = three, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-12)))
emm <- emmeans(m3, ~ arm | visit, lmer.df = "satterthwaite")
emm_kr <- emmeans(m3, ~ arm | visit, lmer.df = "kenward-roger")
ctab <- function(ct, level = 0.95) {
  s <- as.data.frame(summary(ct, infer = c(TRUE, TRUE), level = level))
  list(contrast = as.character(s$contrast), visit = as.character(s$visit),
       estimate = s$estimate, se = s$SE, df = s$df, ci_low = s$lower.CL,
       ci_high = s$upper.CL, p = s$p.value)
}
out$contrasts <- list(
  neg2loglik = -2 * as.numeric(logLik(m3)),
  sigma_b2 = as.numeric(VarCorr(m3)$pid),
  pairwise_tukey = ctab(contrast(emm, "pairwise", adjust = "tukey")),
  pairwise_holm = ctab(contrast(emm, "pairwise", adjust = "holm")),
  pairwise_none_90 = ctab(contrast(emm, "pairwise", adjust = "none"), level = 0.90),
  trt_vs_ctrl_bonferroni = ctab(contrast(emm, "trt.vs.ctrl", adjust = "bonferroni")),
  trt_vs_ctrl_kr_none = ctab(contrast(emm_kr, "trt.vs.ctrl", adjust = "none")),
  custom_high_low = ctab(contrast(emm, list("dose_high - dose_low" = c(0, -1, 1)), adjust = "none"))
)
set.seed(1)
out$contrasts$trt_vs_ctrl_dunnett <- ctab(contrast(emm, "trt.vs.ctrl", adjust = "mvt"))
# complete, balanced data: pbkrtest's expected information is the observed one, so its
# multi-df Kenward-Roger F (scaled) and df are a reference for ours
old <- options(contrasts = c("contr.sum", "contr.poly"))
m3s <- update(m3)
out$type3_three_arm <- list(
  satterthwaite = tab(anova(m3s, type = 3, ddf = "Satterthwaite")),
  kenward_roger = tab(anova(m3s, type = 3, ddf = "Kenward-Roger"))
)
options(old)

# ---- sandwich variants (clubSandwich CR0 / CR2 / CR3 on nlme::gls) -------------------
ctl <- glsControl(tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500)
fev$VISN <- as.integer(fev$AVISIT)
g_us <- gls(FEV1 ~ ARMCD * AVISIT + RACE, data = fev, method = "REML",
            correlation = corSymm(form = ~ VISN | USUBJID),
            weights = varIdent(form = ~ 1 | AVISIT), control = ctl)
g_ar1 <- gls(FEV1 ~ ARMCD * AVISIT + RACE, data = fev, method = "REML",
             correlation = corAR1(form = ~ VISN | USUBJID), control = ctl)
g_cs <- gls(FEV1 ~ ARMCD * AVISIT + RACE, data = fev, method = "REML",
            correlation = corCompSymm(form = ~ VISN | USUBJID), control = ctl)
# R mmrm's "Empirical-Bias-Reduced" whitens each subject (W_i = L_i L_i') and takes the
# symmetric (I - H_ii)^(-1/2); clubSandwich's CR2 for gls adjusts in another metric and
# differs from it by about 1e-4, so the mmrm form is also computed here by hand.
bias_reduced <- function(g) {
  x <- model.matrix(formula(g), fev)
  e <- resid(g, type = "response")
  m <- unclass(vcov(g))
  meat <- 0
  for (id in unique(as.character(fev$USUBJID))) {
    rows <- which(fev$USUBJID == id)
    v <- as.matrix(getVarCov(g, individual = id))
    winv <- solve(chol(v)) # winv %*% t(winv) = v^-1
    xt <- t(winv) %*% x[rows, , drop = FALSE]
    a <- diag(length(rows)) - xt %*% m %*% t(xt)
    ev <- eigen(a, symmetric = TRUE)
    a_root <- ev$vectors %*% diag(1 / sqrt(ev$values), length(rows)) %*% t(ev$vectors)
    z <- t(xt) %*% a_root %*% t(winv) %*% e[rows]
    meat <- meat + z %*% t(z)
  }
  unname(m %*% meat %*% m)
}
cr <- function(g) {
  res <- list(terms = names(coef(g)), neg2loglik = -2 * as.numeric(logLik(g)))
  for (type in c("CR0", "CR2", "CR3")) {
    res[[type]] <- unname(as.matrix(vcovCR(g, cluster = fev$USUBJID, type = type)))
    tests <- coef_test(g, vcov = type, cluster = fev$USUBJID, test = "Satterthwaite")
    res[[paste0(type, "_df")]] <- unname(tests$df_Satt)
  }
  res$bias_reduced <- bias_reduced(g)
  res
}
out$sandwich <- list(formula = "FEV1 ~ ARMCD*AVISIT + RACE", us = cr(g_us), ar1 = cr(g_ar1))

# ---- residuals of the us fit (nlme; its "normalized" residuals are not R mmrm's L^-1 e
# for subjects with missing visits, so only response and Pearson residuals are kept) -----
out$residuals <- list(
  USUBJID = as.character(fev$USUBJID), AVISIT = as.character(fev$AVISIT),
  response = unname(resid(g_us, type = "response")),
  pearson = unname(resid(g_us, type = "pearson")),
  fitted = unname(fitted(g_us))
)

# ---- likelihood-ratio tests of nested covariance structures (nlme::anova) ----------
lr <- function(a, b) {
  t <- anova(a, b)
  list(statistic = t$L.Ratio[2], df = abs(diff(t$df)), p = t[["p-value"]][2])
}
g_ar1_ml <- update(g_ar1, method = "ML")
g_us_ml <- update(g_us, method = "ML")
out$lr <- list(
  cs_us_reml = lr(g_cs, g_us),
  ar1_us_reml = lr(g_ar1, g_us),
  ar1_us_ml = lr(g_ar1_ml, g_us_ml)
)

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "mmrm_complete.json")
