(module
  (import "env" "memory" (memory 0))
  ;; RMSProp, one variable: s' = s*decay + g*g*keep; m' = m*mom + g*lr / sqrt(s' + eps); v' = v - m'
  (func (export "rmsprop")
    (param $v i32) (param $s i32) (param $m i32) (param $g i32)
    (param $ov i32) (param $os i32) (param $om i32) (param $n i32)
    (param $decay f32) (param $keep f32) (param $mom f32) (param $lr f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $gv v128) (local $sv v128) (local $mv v128)
    (local $d4 v128) (local $k4 v128) (local $m4 v128) (local $l4 v128) (local $e4 v128)
    (local $gs f32) (local $ss f32) (local $ms f32)
    (local.set $d4 (f32x4.splat (local.get $decay)))
    (local.set $k4 (f32x4.splat (local.get $keep)))
    (local.set $m4 (f32x4.splat (local.get $mom)))
    (local.set $l4 (f32x4.splat (local.get $lr)))
    (local.set $e4 (f32x4.splat (local.get $eps)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load align=4 (i32.add (local.get $g) (local.get $o))))
        (local.set $sv (f32x4.add
          (f32x4.mul (v128.load align=4 (i32.add (local.get $s) (local.get $o))) (local.get $d4))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $k4))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load align=4 (i32.add (local.get $m) (local.get $o))) (local.get $m4))
          (f32x4.div (f32x4.mul (local.get $gv) (local.get $l4))
                     (f32x4.sqrt (f32x4.add (local.get $sv) (local.get $e4))))))
        (v128.store align=4 (i32.add (local.get $os) (local.get $o)) (local.get $sv))
        (v128.store align=4 (i32.add (local.get $om) (local.get $o)) (local.get $mv))
        (v128.store align=4 (i32.add (local.get $ov) (local.get $o))
          (f32x4.sub (v128.load align=4 (i32.add (local.get $v) (local.get $o))) (local.get $mv)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done2
      (loop $tail
        (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (local.set $ss (f32.add
          (f32.mul (f32.load (i32.add (local.get $s) (local.get $o))) (local.get $decay))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $keep))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $mom))
          (f32.div (f32.mul (local.get $gs) (local.get $lr))
                   (f32.sqrt (f32.add (local.get $ss) (local.get $eps))))))
        (f32.store (i32.add (local.get $os) (local.get $o)) (local.get $ss))
        (f32.store (i32.add (local.get $om) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $ov) (local.get $o))
          (f32.sub (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $ms)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; Adam, one variable: m' = m*b1 + g*k1; s' = s*b2 + g*g*k2; v' = (m'/c1) / (sqrt(s'/c2) + eps) * step + v
  (func (export "adam")
    (param $v i32) (param $m i32) (param $s i32) (param $g i32)
    (param $ov i32) (param $om i32) (param $os i32) (param $n i32)
    (param $b1 f32) (param $k1 f32) (param $b2 f32) (param $k2 f32)
    (param $c1 f32) (param $c2 f32) (param $eps f32) (param $step f32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $gv v128) (local $mv v128) (local $sv v128)
    (local $b14 v128) (local $k14 v128) (local $b24 v128) (local $k24 v128)
    (local $c14 v128) (local $c24 v128) (local $e4 v128) (local $st4 v128)
    (local $gs f32) (local $ms f32) (local $ss f32)
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $k14 (f32x4.splat (local.get $k1)))
    (local.set $b24 (f32x4.splat (local.get $b2)))
    (local.set $k24 (f32x4.splat (local.get $k2)))
    (local.set $c14 (f32x4.splat (local.get $c1)))
    (local.set $c24 (f32x4.splat (local.get $c2)))
    (local.set $e4 (f32x4.splat (local.get $eps)))
    (local.set $st4 (f32x4.splat (local.get $step)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load align=4 (i32.add (local.get $g) (local.get $o))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load align=4 (i32.add (local.get $m) (local.get $o))) (local.get $b14))
          (f32x4.mul (local.get $gv) (local.get $k14))))
        (local.set $sv (f32x4.add
          (f32x4.mul (v128.load align=4 (i32.add (local.get $s) (local.get $o))) (local.get $b24))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $k24))))
        (v128.store align=4 (i32.add (local.get $om) (local.get $o)) (local.get $mv))
        (v128.store align=4 (i32.add (local.get $os) (local.get $o)) (local.get $sv))
        (v128.store align=4 (i32.add (local.get $ov) (local.get $o))
          (f32x4.add
            (f32x4.mul
              (f32x4.div (f32x4.div (local.get $mv) (local.get $c14))
                         (f32x4.add (f32x4.sqrt (f32x4.div (local.get $sv) (local.get $c24))) (local.get $e4)))
              (local.get $st4))
            (v128.load align=4 (i32.add (local.get $v) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $done2
      (loop $tail
        (br_if $done2 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
          (f32.mul (local.get $gs) (local.get $k1))))
        (local.set $ss (f32.add
          (f32.mul (f32.load (i32.add (local.get $s) (local.get $o))) (local.get $b2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $k2))))
        (f32.store (i32.add (local.get $om) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $os) (local.get $o)) (local.get $ss))
        (f32.store (i32.add (local.get $ov) (local.get $o))
          (f32.add
            (f32.mul
              (f32.div (f32.div (local.get $ms) (local.get $c1))
                       (f32.add (f32.sqrt (f32.div (local.get $ss) (local.get $c2))) (local.get $eps)))
              (local.get $step))
            (f32.load (i32.add (local.get $v) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))))
