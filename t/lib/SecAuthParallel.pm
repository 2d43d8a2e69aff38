# SecAuthParallel.pm — in_parallel(N, CODE): runs CODE($i) for i = 1..N in forked processes
# released together (so their requests overlap) and returns the N strings they returned, in
# any order. Shared by the Apache::Test suite (through SecAuthTest) and scripts/check-faults.pl.
package SecAuthParallel;
use strict;
use warnings;
use Exporter 'import';
use POSIX ();

our @EXPORT = qw(in_parallel);

sub in_parallel {
    my ($n, $code) = @_;
    my (@readers, @pids);
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    for my $i (1 .. $n) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            close $r;
            close $go_w;
            my $ready = <$go_r>;    # returns at EOF: when the parent closes its end
            my $out = eval { $code->($i) } // "died: $@";
            print $w $out;
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @readers, $r;
        push @pids, $pid;
    }
    close $go_r;
    close $go_w;
    my @out = map { local $/; my $fh = $_; my $v = <$fh>; close $fh; $v // '' } @readers;
    waitpid($_, 0) for @pids;
    return @out;
}

1;
