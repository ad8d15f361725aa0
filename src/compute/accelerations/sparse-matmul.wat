(module
  (import "env" "memory" (memory 0))

  ;; How many of the n float32 values at $p are not zero (NaN counts as not zero).
  (func (export "nonzeros") (param $p i32) (param $n i32) (result i32)
    (local $i i32) (local $end i32) (local $acc v128) (local $count i32)
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        ;; f32x4.ne gives -1 per lane that is not zero: subtracting it counts.
        (local.set $acc (i32x4.sub (local.get $acc)
          (f32x4.ne (v128.load align=4 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (local.set $count (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
      (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    (block $done2
      (loop $tail
        (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
        (if (f32.ne (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))) (f32.const 0))
          (then (local.set $count (i32.add (local.get $count) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $count))

  ;; out[m, :] = act(bias + sum over k with a[m, k] != 0 of a[m, k] * b[k, :]), row by row.
  ;; a is M x K, b is K x N, out is M x N, all row-major float32; bias is N values or 0 (none);
  ;; idx is scratch for K int32. The sum starts from the bias and adds the products in
  ;; increasing k, a multiply then an add each (no FMA): the order XNNPACK's GEMM uses, so
  ;; skipping the zero products changes no bit. $relu 1: max(0, x) as XNNPACK clamps it.
  (func (export "matmul")
    (param $a i32) (param $b i32) (param $bias i32) (param $out i32) (param $idx i32)
    (param $M i32) (param $K i32) (param $N i32) (param $relu i32)
    (local $m i32) (local $k i32) (local $j i32) (local $n i32) (local $nnz i32)
    (local $arow i32) (local $orow i32) (local $w i32) (local $rowBytes i32)
    (local $av v128) (local $zero v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local $s f32) (local $as f32)
    (local.set $rowBytes (i32.shl (local.get $N) (i32.const 2)))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $m) (local.get $M)))
        (local.set $arow (i32.add (local.get $a) (i32.shl (i32.mul (local.get $m) (local.get $K)) (i32.const 2))))
        (local.set $orow (i32.add (local.get $out) (i32.mul (local.get $m) (local.get $rowBytes))))
        ;; The row's non-zero columns, in order.
        (local.set $nnz (i32.const 0))
        (local.set $k (i32.const 0))
        (block $scanDone
          (loop $scan
            (br_if $scanDone (i32.ge_u (local.get $k) (local.get $K)))
            (if (f32.ne (f32.load (i32.add (local.get $arow) (i32.shl (local.get $k) (i32.const 2)))) (f32.const 0))
              (then
                (i32.store (i32.add (local.get $idx) (i32.shl (local.get $nnz) (i32.const 2))) (local.get $k))
                (local.set $nnz (i32.add (local.get $nnz) (i32.const 1)))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $scan)))
        (local.set $n (i32.const 0))
        ;; 32 columns at a time, in eight accumulators.
        (block $wideDone
          (loop $wide
            (br_if $wideDone (i32.gt_u (i32.add (local.get $n) (i32.const 32)) (local.get $N)))
            (if (local.get $bias)
              (then
                (local.set $w (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))
                (local.set $c0 (v128.load offset=0 align=4 (local.get $w)))
                (local.set $c1 (v128.load offset=16 align=4 (local.get $w)))
                (local.set $c2 (v128.load offset=32 align=4 (local.get $w)))
                (local.set $c3 (v128.load offset=48 align=4 (local.get $w)))
                (local.set $c4 (v128.load offset=64 align=4 (local.get $w)))
                (local.set $c5 (v128.load offset=80 align=4 (local.get $w)))
                (local.set $c6 (v128.load offset=96 align=4 (local.get $w)))
                (local.set $c7 (v128.load offset=112 align=4 (local.get $w))))
              (else
                (local.set $c0 (local.get $zero)) (local.set $c1 (local.get $zero))
                (local.set $c2 (local.get $zero)) (local.set $c3 (local.get $zero))
                (local.set $c4 (local.get $zero)) (local.set $c5 (local.get $zero))
                (local.set $c6 (local.get $zero)) (local.set $c7 (local.get $zero))))
            (local.set $j (i32.const 0))
            (block $sumDone
              (loop $sum
                (br_if $sumDone (i32.ge_u (local.get $j) (local.get $nnz)))
                (local.set $k (i32.load (i32.add (local.get $idx) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $av (v128.load32_splat (i32.add (local.get $arow) (i32.shl (local.get $k) (i32.const 2)))))
                (local.set $w (i32.add (local.get $b)
                  (i32.add (i32.mul (local.get $k) (local.get $rowBytes)) (i32.shl (local.get $n) (i32.const 2)))))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $av) (v128.load offset=0 align=4 (local.get $w)))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $av) (v128.load offset=16 align=4 (local.get $w)))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $av) (v128.load offset=32 align=4 (local.get $w)))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $av) (v128.load offset=48 align=4 (local.get $w)))))
                (local.set $c4 (f32x4.add (local.get $c4) (f32x4.mul (local.get $av) (v128.load offset=64 align=4 (local.get $w)))))
                (local.set $c5 (f32x4.add (local.get $c5) (f32x4.mul (local.get $av) (v128.load offset=80 align=4 (local.get $w)))))
                (local.set $c6 (f32x4.add (local.get $c6) (f32x4.mul (local.get $av) (v128.load offset=96 align=4 (local.get $w)))))
                (local.set $c7 (f32x4.add (local.get $c7) (f32x4.mul (local.get $av) (v128.load offset=112 align=4 (local.get $w)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $sum)))
            (if (local.get $relu)
              (then
                (local.set $c0 (f32x4.pmax (local.get $zero) (local.get $c0)))
                (local.set $c1 (f32x4.pmax (local.get $zero) (local.get $c1)))
                (local.set $c2 (f32x4.pmax (local.get $zero) (local.get $c2)))
                (local.set $c3 (f32x4.pmax (local.get $zero) (local.get $c3)))
                (local.set $c4 (f32x4.pmax (local.get $zero) (local.get $c4)))
                (local.set $c5 (f32x4.pmax (local.get $zero) (local.get $c5)))
                (local.set $c6 (f32x4.pmax (local.get $zero) (local.get $c6)))
                (local.set $c7 (f32x4.pmax (local.get $zero) (local.get $c7)))))
            (local.set $w (i32.add (local.get $orow) (i32.shl (local.get $n) (i32.const 2))))
            (v128.store offset=0 align=4 (local.get $w) (local.get $c0))
            (v128.store offset=16 align=4 (local.get $w) (local.get $c1))
            (v128.store offset=32 align=4 (local.get $w) (local.get $c2))
            (v128.store offset=48 align=4 (local.get $w) (local.get $c3))
            (v128.store offset=64 align=4 (local.get $w) (local.get $c4))
            (v128.store offset=80 align=4 (local.get $w) (local.get $c5))
            (v128.store offset=96 align=4 (local.get $w) (local.get $c6))
            (v128.store offset=112 align=4 (local.get $w) (local.get $c7))
            (local.set $n (i32.add (local.get $n) (i32.const 32)))
            (br $wide)))
        ;; The remaining columns one at a time, same order and rounding.
        (block $narrowDone
          (loop $narrow
            (br_if $narrowDone (i32.ge_u (local.get $n) (local.get $N)))
            (local.set $s (if (result f32) (local.get $bias)
              (then (f32.load (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2)))))
              (else (f32.const 0))))
            (local.set $j (i32.const 0))
            (block $sumDone2
              (loop $sum2
                (br_if $sumDone2 (i32.ge_u (local.get $j) (local.get $nnz)))
                (local.set $k (i32.load (i32.add (local.get $idx) (i32.shl (local.get $j) (i32.const 2)))))
                (local.set $as (f32.load (i32.add (local.get $arow) (i32.shl (local.get $k) (i32.const 2)))))
                (local.set $s (f32.add (local.get $s) (f32.mul (local.get $as)
                  (f32.load (i32.add (local.get $b)
                    (i32.add (i32.mul (local.get $k) (local.get $rowBytes)) (i32.shl (local.get $n) (i32.const 2))))))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $sum2)))
            (if (local.get $relu)
              (then (local.set $s (select (local.get $s) (f32.const 0) (f32.lt (f32.const 0) (local.get $s))))))
            (f32.store (i32.add (local.get $orow) (i32.shl (local.get $n) (i32.const 2))) (local.get $s))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $narrow)))
        (local.set $m (i32.add (local.get $m) (i32.const 1)))
        (br $rows))))
)
