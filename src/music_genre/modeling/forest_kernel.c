/* The compiled scorer's kernel (music_genre.modeling.compiled): a forest of binary trees with
 * numerical `x <= threshold` splits, scored for a block of rows at a time.
 *
 * The forest is data, not code: one build of this file serves every model (music_genre's
 * compiled.py hands it the trees as flat arrays), so a new model needs no compiler run.
 *
 * A block of rows is first transposed to feature-major order (one contiguous column of the
 * block per feature), then each tree is evaluated for all rows of the block at once:
 * - a tree of at most 64 leaves by its leaf bitmask (QuickScorer's exit leaf): every split
 *   node either keeps every leaf or, when the row goes right, clears the leaves of its left
 *   subtree; the row's leaf is the leftmost one left, the lowest set bit (leaves numbered in
 *   left-to-right order). No branch depends on the data, and the inner loop over the block's
 *   rows is one vector compare and two bit operations per split;
 * - a larger tree by walking it, row by row.
 * Raw scores are summed per output in tree order, from each output's initial value, in double
 * precision: the order and arithmetic of LightGBM's and scikit-learn's own predictors, so the
 * sums are the same to the last bit. The link (softmax or sigmoid) is LightGBM's.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MG_ABI 1
#define MG_BLOCK 64
#define MG_SMALL 8
/* LightGBM's kZeroThreshold (1e-35f): it reads a value of a dense row this close to zero as
 * zero (RowFunctionFromDenseMatric), and a CSR entry as it is. */
#define MG_ZERO ((double)1e-35f)

typedef struct {
    int64_t n_trees;
    int64_t n_outputs;           /* raw scores per row (trees per iteration) */
    int64_t n_features;
    const int32_t *node_start;   /* per tree: its first split node; n_trees + 1 entries */
    const int32_t *feature;      /* per split node */
    const double *threshold;     /* a row goes left when x <= threshold */
    const uint8_t *nan_left;     /* where a missing value (NaN) goes: 1 left, 0 right */
    const uint64_t *left_leaves; /* bitmask trees: the leaves of the node's left subtree */
    const int32_t *left;         /* walked trees: child, a node of the tree or ~leaf */
    const int32_t *right;
    const uint8_t *walked;       /* per tree: 1 walked, 0 bitmask */
    const int32_t *leaf_start;   /* per tree: its first leaf value; n_trees + 1 entries */
    const double *leaf_value;    /* bitmask trees: leaves left to right; walked: by ~leaf */
    const double *init;          /* per output: the raw score before the first tree */
    int32_t link;                /* 0 raw scores, 1 softmax, 2 sigmoid */
    int32_t zero_band;           /* 1: |x| <= MG_ZERO of a dense row reads as 0.0 (LightGBM) */
    double sigmoid;              /* link 2: p = 1 / (1 + exp(-sigmoid * raw)) */
} mg_forest;

int64_t mg_abi(void) { return MG_ABI; }

static inline uint64_t goes_left(double x, double threshold, uint64_t nan_left)
{
    return (uint64_t)(x <= threshold) | ((uint64_t)(x != x) & nan_left);
}

static inline __attribute__((always_inline)) void
bitmask_tree(const mg_forest *f, int64_t t, const double *xt, int64_t R, int has_nan,
             uint64_t *mask)
{
    for (int64_t r = 0; r < R; r++) mask[r] = ~(uint64_t)0;
    for (int32_t n = f->node_start[t]; n < f->node_start[t + 1]; n++) {
        const double *column = xt + (int64_t)f->feature[n] * R;
        const double threshold = f->threshold[n];
        const uint64_t keep = ~f->left_leaves[n];
        if (has_nan) {
            const uint64_t nan_left = f->nan_left[n];
            for (int64_t r = 0; r < R; r++)
                mask[r] &= keep | (0 - goes_left(column[r], threshold, nan_left));
        } else {
            for (int64_t r = 0; r < R; r++)
                mask[r] &= keep | (0 - (uint64_t)(column[r] <= threshold));
        }
    }
}

static int32_t walk_tree(const mg_forest *f, int64_t t, const double *xt, int64_t R, int64_t r)
{
    const int32_t first = f->node_start[t];
    if (first == f->node_start[t + 1]) return 0;
    int32_t node = 0;
    while (node >= 0) {
        const int32_t n = first + node;
        const double x = xt[(int64_t)f->feature[n] * R + r];
        node = goes_left(x, f->threshold[n], f->nan_left[n]) ? f->left[n] : f->right[n];
    }
    return ~node;
}

/* Raw scores of the R rows of xt (feature-major, R values per feature) into acc (R x outputs). */
static inline __attribute__((always_inline)) void
score_block(const mg_forest *f, const double *xt, int64_t R, int has_nan, double *acc)
{
    uint64_t mask[MG_BLOCK];
    const int64_t K = f->n_outputs;
    for (int64_t r = 0; r < R; r++)
        for (int64_t k = 0; k < K; k++) acc[r * K + k] = f->init[k];
    for (int64_t t = 0; t < f->n_trees; t++) {
        const int64_t k = t % K;
        const double *leaves = f->leaf_value + f->leaf_start[t];
        if (f->walked[t]) {
            for (int64_t r = 0; r < R; r++) acc[r * K + k] += leaves[walk_tree(f, t, xt, R, r)];
            continue;
        }
        bitmask_tree(f, t, xt, R, has_nan, mask);
        /* The last leaf is in no left subtree: its bit is never cleared, and or-ing it in
         * keeps the exit leaf inside the tree whatever the masks hold. */
        const uint64_t last = (uint64_t)1 << (f->leaf_start[t + 1] - f->leaf_start[t] - 1);
        for (int64_t r = 0; r < R; r++)
            acc[r * K + k] += leaves[__builtin_ctzll(mask[r] | last)];
    }
}

static void score_big(const mg_forest *f, const double *xt, int has_nan, double *acc)
{
    score_block(f, xt, MG_BLOCK, has_nan, acc);
}

static void score_small(const mg_forest *f, const double *xt, int has_nan, double *acc)
{
    score_block(f, xt, MG_SMALL, has_nan, acc);
}

static void score_one(const mg_forest *f, const double *xt, int has_nan, double *acc)
{
    score_block(f, xt, 1, has_nan, acc);
}

static inline double read_value(const mg_forest *f, double v)
{
    return (f->zero_band && fabs(v) <= MG_ZERO) ? 0.0 : v;
}

/* Rows [row, row + rows) of a dense row-major matrix into xt (R values per feature, zero
 * padded); returns whether any value is NaN. */
static int fill_dense(const mg_forest *f, const double *X, int64_t stride, int64_t row,
                      int64_t rows, int64_t R, double *xt)
{
    uint64_t has_nan = 0;
    const int64_t F = f->n_features;
    if (rows < R) memset(xt, 0, sizeof(double) * (size_t)(F * R));
    for (int64_t r = 0; r < rows; r++) {
        const double *x = X + (row + r) * stride;
        for (int64_t j = 0; j < F; j++) {
            const double v = read_value(f, x[j]);
            has_nan |= (uint64_t)(v != v);
            xt[j * R + r] = v;
        }
    }
    return has_nan != 0;
}

/* The same for rows of a CSR matrix (absent entries are 0.0). */
static int fill_csr(const mg_forest *f, const int64_t *indptr, const int32_t *indices,
                    const double *data, int64_t row, int64_t rows, int64_t R, double *xt)
{
    uint64_t has_nan = 0;
    memset(xt, 0, sizeof(double) * (size_t)(f->n_features * R));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t p = indptr[row + r]; p < indptr[row + r + 1]; p++) {
            const double v = data[p];  /* LightGBM keeps a CSR entry as it is */
            has_nan |= (uint64_t)(v != v);
            xt[(int64_t)indices[p] * R + r] = v;
        }
    }
    return has_nan != 0;
}

/* LightGBM's link: Common::Softmax for multiclass, its sigmoid for binary. */
static void finish(const mg_forest *f, const double *acc, int64_t rows, double *out)
{
    const int64_t K = f->n_outputs;
    for (int64_t r = 0; r < rows; r++) {
        const double *s = acc + r * K;
        double *o = out + r * K;
        if (f->link == 1) {
            double wmax = s[0];
            for (int64_t k = 1; k < K; k++) wmax = (s[k] < wmax) ? wmax : s[k];
            double wsum = 0.0;
            for (int64_t k = 0; k < K; k++) {
                o[k] = exp(s[k] - wmax);
                wsum += o[k];
            }
            for (int64_t k = 0; k < K; k++) o[k] /= wsum;
        } else if (f->link == 2) {
            for (int64_t k = 0; k < K; k++) o[k] = 1.0 / (1.0 + exp(-f->sigmoid * s[k]));
        } else {
            for (int64_t k = 0; k < K; k++) o[k] = s[k];
        }
    }
}

/* Rows [0, n) in blocks: full blocks of MG_BLOCK rows, then blocks of MG_SMALL, then one at a
 * time; `fill` puts a block's rows into xt. Returns 0, or -1 when out of memory. */
typedef int (*fill_fn)(const mg_forest *, const void *, int64_t, int64_t, int64_t, double *);

static int score_rows(const mg_forest *f, int64_t n, double *out, fill_fn fill, const void *source)
{
    double *xt = malloc(sizeof(double) * (size_t)(f->n_features * MG_BLOCK));
    double *acc = malloc(sizeof(double) * (size_t)(f->n_outputs * MG_BLOCK));
    if (xt == NULL || acc == NULL) {
        free(xt);
        free(acc);
        return -1;
    }
    int64_t row = 0;
    while (row < n) {
        const int64_t left = n - row;
        const int64_t R = left >= MG_BLOCK ? MG_BLOCK : (left >= 2 ? MG_SMALL : 1);
        const int64_t rows = left < R ? left : R;
        const int has_nan = fill(f, source, row, rows, R, xt);
        if (R == MG_BLOCK) score_big(f, xt, has_nan, acc);
        else if (R == MG_SMALL) score_small(f, xt, has_nan, acc);
        else score_one(f, xt, has_nan, acc);
        finish(f, acc, rows, out + row * f->n_outputs);
        row += rows;
    }
    free(xt);
    free(acc);
    return 0;
}

typedef struct {
    const double *X;
    int64_t stride;
} dense_source;

typedef struct {
    const int64_t *indptr;
    const int32_t *indices;
    const double *data;
} csr_source;

static int fill_from_dense(const mg_forest *f, const void *source, int64_t row, int64_t rows,
                           int64_t R, double *xt)
{
    const dense_source *s = source;
    return fill_dense(f, s->X, s->stride, row, rows, R, xt);
}

static int fill_from_csr(const mg_forest *f, const void *source, int64_t row, int64_t rows,
                         int64_t R, double *xt)
{
    const csr_source *s = source;
    return fill_csr(f, s->indptr, s->indices, s->data, row, rows, R, xt);
}

/* n rows of a dense row-major float64 matrix (row i at X + i * stride) into out (n x outputs). */
int mg_score_dense(const mg_forest *f, const double *X, int64_t n, int64_t stride, double *out)
{
    const dense_source source = {X, stride};
    return score_rows(f, n, out, fill_from_dense, &source);
}

/* n rows of a CSR float64 matrix (int64 row pointers, int32 column indices) into out. */
int mg_score_csr(const mg_forest *f, const int64_t *indptr, const int32_t *indices,
                 const double *data, int64_t n, double *out)
{
    const csr_source source = {indptr, indices, data};
    return score_rows(f, n, out, fill_from_csr, &source);
}
