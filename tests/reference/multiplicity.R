# Reference numbers for tests/test_stats_multiplicity.py and tests/test_analysis_multiplicity.py
#   Rscript tests/reference/multiplicity.R   (writes multiplicity.json next to this file)
# Needs R >= 4.2 with nlme, emmeans, multcomp, mvtnorm and jsonlite.
#  - p_adjust: stats::p.adjust (holm, hochberg, bonferroni) on fixed vectors (ties, NA).
#  - lm_dunnett: lm(change ~ base + sex + arm) at m12 of sim_three_arm.csv, Dunnett by
#    multcomp::glht(mcp(arm = "Dunnett")); the same from mvtnorm::pmvt at high precision,
#    the critical value by uniroot on pmvt (glht's defaults carry an error of about 1e-3).
#  - pmvt_general: P(max |T_i| <= c) for a 4 x 4 correlation without one-factor form.
#  - mmrm_dunnett: nlme::gls(change ~ base + sex + arm * visit, corSymm + varIdent, REML)
#    over m3, m6, m12 (in time order), each dose vs placebo per visit by emmeans
#    (mode = "df.error") with the single-step multivariate-t ("mvt") adjustment, and the
#    same p-values and simultaneous CIs by mvtnorm at high precision, also with the
#    residual df N - rank(X) (emmeans' df.error for gls also subtracts the 5 covariance
#    parameters).
#  - dose_response: gls(change ~ base + sex + visit + visit:dose), same covariance; dose in
#    units of the low dose; the slope per visit.
# sex is a made-up covariate: female for even participant numbers.
suppressMessages({
  library(nlme); library(emmeans); library(multcomp); library(mvtnorm); library(jsonlite)
})
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
set.seed(2026)
precise <- GenzBretz(maxpts = 2e6, abseps = 1e-7, releps = 0)

p_cases <- list(c(0.01, 0.02, 0.03, 0.04, 0.05), c(0.04, 0.01, 0.04, 0.2, NA, 0.03),
                c(0.5, 0.002, 0.3), c(0.0001, 0.9, 0.9, 0.049))
p_adjust <- lapply(p_cases, function(p) list(
  p = p, holm = p.adjust(p, "holm"), hochberg = p.adjust(p, "hochberg"),
  bonferroni = p.adjust(p, "bonferroni")))

d <- read.csv(file.path(here, "sim_three_arm.csv"))
d$sex <- ifelse(as.integer(substr(d$pid, 2, 3)) %% 2 == 0, "female", "male")
base <- d[d$visit == "m0", c("pid", "y")]
names(base)[2] <- "base"
post <- merge(d[d$visit != "m0", ], base, by = "pid")
post$change <- post$y - post$base
post$arm <- factor(post$arm, levels = c("placebo", "dose_low", "dose_high"))
post$visit <- factor(post$visit, levels = c("m3", "m6", "m12"))
post <- post[order(post$pid, post$visit), ]
post$vi <- as.integer(post$visit)

precise_dunnett <- function(est, vc, df) {
  se <- sqrt(diag(vc)); cr <- cov2cor(vc); k <- length(est)
  p <- sapply(abs(est / se), function(t) 1 - pmvt(lower = rep(-t, k), upper = rep(t, k),
                                                   df = df, corr = cr, algorithm = precise))
  cover <- function(c) pmvt(lower = rep(-c, k), upper = rep(c, k), df = df, corr = cr,
                            algorithm = precise)[1]
  crit <- uniroot(function(c) cover(c) - 0.95, c(1, 6), tol = 1e-10)$root  # qmvt: ptol 1e-3
  list(p_adjusted = p, critical_value = crit, ci_low = est - crit * se, ci_high = est + crit * se)
}

m12 <- post[post$visit == "m12", ]
fit <- lm(change ~ base + sex + arm, data = m12)
g <- glht(fit, linfct = mcp(arm = "Dunnett"))
s <- summary(g)
ci <- confint(g)$confint
lm_dunnett <- list(
  estimate = unname(coef(g)), cov = unname(vcov(g)), df = fit$df.residual,
  glht = list(p_adjusted = unname(s$test$pvalues), ci_low = unname(ci[, "lwr"]),
              ci_high = unname(ci[, "upr"])),
  precise = precise_dunnett(unname(coef(g)), unname(vcov(g)), fit$df.residual))

corr4 <- matrix(c(1, .5, .4, .2, .5, 1, .3, .1, .4, .3, 1, .25, .2, .1, .25, 1), 4)
pmvt_general <- list(corr = corr4, df = 15, c = c(2.4, 2.6),
  coverage = sapply(c(2.4, 2.6), function(x) pmvt(lower = rep(-x, 4), upper = rep(x, 4),
                                                   df = 15, corr = corr4, algorithm = precise)),
  normal = pmvnorm(lower = rep(-2.4, 4), upper = rep(2.4, 4), corr = corr4,
                   algorithm = precise)[1])

gfit <- gls(change ~ base + sex + arm * visit, data = post, method = "REML",
            correlation = corSymm(form = ~ vi | pid), weights = varIdent(form = ~ 1 | visit))
con <- contrast(emmeans(gfit, ~ arm | visit, mode = "df.error"), "trt.vs.ctrl")
mvt <- as.data.frame(summary(con, adjust = "mvt", infer = c(TRUE, TRUE)))
mmrm_dunnett <- lapply(levels(post$visit), function(v) {
  rows <- which(mvt$visit == v)
  vc <- vcov(con)[rows, rows]
  list(visit = v, contrast = as.character(mvt$contrast[rows]), estimate = mvt$estimate[rows],
       se = mvt$SE[rows], df = mvt$df[rows][1],
       emmeans = list(p_adjusted = mvt$p.value[rows], ci_low = mvt$lower.CL[rows],
                      ci_high = mvt$upper.CL[rows]),
       precise = precise_dunnett(mvt$estimate[rows], unname(vc), mvt$df[rows][1]),
       residual_df = nrow(post) - length(coef(gfit)),
       precise_residual_df = precise_dunnett(mvt$estimate[rows], unname(vc),
                                             nrow(post) - length(coef(gfit))))
})

post$dose <- c(placebo = 0, dose_low = 1, dose_high = 2)[as.character(post$arm)]
dfit <- gls(change ~ base + sex + visit + visit:dose, data = post, method = "REML",
            correlation = corSymm(form = ~ vi | pid), weights = varIdent(form = ~ 1 | visit))
tt <- summary(dfit)$tTable
slopes <- grep(":dose$", rownames(tt))
dose_response <- list(visit = sub("^visit(.*):dose$", "\\1", rownames(tt)[slopes]),
                      estimate = unname(tt[slopes, "Value"]),
                      se = unname(tt[slopes, "Std.Error"]))

out <- list(p_adjust = p_adjust, lm_dunnett = lm_dunnett, pmvt_general = pmvt_general,
            mmrm_dunnett = mmrm_dunnett, dose_response = dose_response,
            versions = list(R = R.version.string, emmeans = format(packageVersion("emmeans")),
                            multcomp = format(packageVersion("multcomp")),
                            mvtnorm = format(packageVersion("mvtnorm")),
                            nlme = format(packageVersion("nlme"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(here, "multiplicity.json"))
